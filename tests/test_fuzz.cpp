// Fixed-seed mutation of the shipped model, chip, scenario, calibration and Hugging Face files through the
// loaders: bit flips, truncation, hostile numbers, deep nesting, duplicate keys, type swaps,
// NUL and control bytes, long strings. Only InputError may come out, and whatever still loads
// must give finite figures (fuzz/load_checked.hpp). Tag [fuzz], CTest label "fuzz", 2,500
// mutants by default (about 2 s on two cores).
#include "helpers.hpp"

#include <cstdlib>
#include <random>

#include <fmt/format.h>

#include "fuzz/load_checked.hpp"

using namespace decodesim;
using nlohmann::json;

namespace {

struct Seed {
  fuzz::Kind kind;
  std::string file;  // the name it is loaded under: its id must match it
  std::string text;
};

std::vector<Seed> seeds() {
  std::vector<Seed> out;
  const auto dir = test::source_dir();
  auto add = [&](fuzz::Kind kind, const std::filesystem::path& folder, const std::string& name_in) {
    for (const auto& e : std::filesystem::directory_iterator(dir / folder))
      if (e.path().extension() == ".json")
        out.push_back({kind, (std::filesystem::path(name_in) / e.path().filename()).string(), test::read_file(e.path())});
  };
  add(fuzz::Kind::model, "models", "models");
  add(fuzz::Kind::hardware, "hardware", "hardware");
  add(fuzz::Kind::scenario, "scenarios", (dir / "scenarios").string());
  add(fuzz::Kind::calibration, "hardware/calibrated", "calibrated");
  for (const auto& e : std::filesystem::directory_iterator(dir / "tests/hf"))  // Hugging Face configs, read as models
    if (e.is_directory()) out.push_back({fuzz::Kind::model, "hf/" + e.path().filename().string() + "/config.json",
                                         test::read_file(e.path() / "config.json")});
  std::sort(out.begin(), out.end(), [](const Seed& a, const Seed& b) { return a.file < b.file; });  // fixed order
  return out;
}

class Mutator {
 public:
  explicit Mutator(uint32_t seed) : rng_(seed) {}

  // One to three mutations; `what` says which, for the failure report.
  std::string mutate(std::string text, std::string& what) {
    const int n = 1 + pick(3);
    for (int i = 0; i < n; ++i) text = once(std::move(text), what);
    return text;
  }

 private:
  std::mt19937 rng_;
  size_t pick(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  std::string once(std::string text, std::string& what) {
    switch (pick(12)) {
      case 0: {  // bit flip
        if (text.empty()) return text;
        const size_t at = pick(text.size());
        text[at] = static_cast<char>(text[at] ^ (1 << pick(8)));
        what += " bit-flip";
        return text;
      }
      case 1: what += " truncate"; return text.substr(0, pick(text.size() + 1));
      case 2: {  // hostile bytes: NUL, control characters, broken UTF-8
        static const std::string bytes[] = {std::string(1, '\0'), "\x01", "\x1b[31m", "\xff", "\xc3", "\xed\xa0\x80", "\n\r", "\x7f"};
        what += " bytes";
        return text.insert(pick(text.size() + 1), bytes[pick(std::size(bytes))]);
      }
      case 3: {  // deep nesting at a value
        static const int depths[] = {31, 32, 33, 1000, 100000};
        const int d = depths[pick(std::size(depths))];
        what += fmt::format(" nest-{}", d);
        return structural(std::move(text), [](json&) {}, std::string(d, '[') + std::string(d, ']'));
      }
      case 4: {  // a key twice in its object
        // "name" followed by ':' (a scan, not std::regex, which recurses per character)
        std::vector<std::pair<size_t, std::string>> keys;
        for (size_t at = text.find('"'); at != std::string::npos; at = text.find('"', at + 1)) {
          const size_t end = text.find('"', at + 1);
          if (end == std::string::npos) break;
          const size_t colon = text.find_first_not_of(" \t\n", end + 1);
          if (colon != std::string::npos && text[colon] == ':' && end - at < 64) keys.emplace_back(at, text.substr(at + 1, end - at - 1));
          at = end;
        }
        if (keys.empty()) return text;
        const auto& [at, name] = keys[pick(keys.size())];
        what += " duplicate-key";
        return text.insert(at, fmt::format("\"{}\": 1, ", name));
      }
      case 5: case 6: {  // hostile numbers
        static const json numbers[] = {0, -1, 1, 2147483647, 2147483648LL, 4294967295LL, 4294967296LL, -2147483648LL,
                                       9007199254740993LL, 9223372036854775807LL, 18446744073709551615ULL, 1e19, 1e28, 1e308,
                                       -1e308, 1e-308, 5e-324, 0.5, -0.0, 1e-9, 64.0, 1073741825};
        what += " number";
        return structural(std::move(text), [&](json& v) { v = numbers[pick(std::size(numbers))]; });
      }
      case 7: {  // type swap
        static const json values[] = {nullptr, true, "64", json::array(), json::object(), json::array({1, 2}), "",
                                      json::object({{"kind", "gqa"}})};
        what += " type";
        return structural(std::move(text), [&](json& v) { v = values[pick(std::size(values))]; });
      }
      case 8: {  // long or hostile strings
        static const std::string strings[] = {std::string(100000, 'a'), std::string(65, 'b'), "a\nb", "..", "../../etc/passwd",
                                              "x'; system('true') #", "\u00e9t\u00e9", "A"};
        what += " string";
        return structural(std::move(text), [&](json& v) { v = strings[pick(std::size(strings))]; });
      }
      case 9: {  // drop a member or element
        what += " drop";
        return structural(std::move(text), [](json&) {}, "");
      }
      case 10: {  // repeat a span elsewhere
        if (text.empty()) return text;
        const size_t from = pick(text.size()), len = pick(std::min<size_t>(200, text.size() - from) + 1);
        what += " splice";
        return text.insert(pick(text.size() + 1), text.substr(from, len));
      }
      default: {  // delete a span
        if (text.empty()) return text;
        const size_t from = pick(text.size());
        what += " delete";
        return text.erase(from, pick(std::min<size_t>(50, text.size() - from) + 1));
      }
    }
  }

  // Parses the text (unchanged if it does not parse, or nests too deep to re-serialise safely),
  // picks one node and applies `change` to it, or with `raw` puts that text in its place, or
  // with an empty `raw` drops it from its parent.
  template <class Change>
  std::string structural(std::string text, Change change, std::optional<std::string> raw = std::nullopt) {
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded()) return text;
    struct Node {
      json* node;
      json* parent;
      std::string key;
      size_t index;
    };
    std::vector<Node> nodes;
    std::vector<std::pair<Node, int>> todo{{{&doc, nullptr, {}, 0}, 0}};
    while (!todo.empty()) {  // iterative: a mutant may already nest deep
      const auto [n, depth] = todo.back();
      todo.pop_back();
      if (depth > 64) return text;  // dump() recurses
      nodes.push_back(n);
      if (n.node->is_object())
        for (auto it = n.node->begin(); it != n.node->end(); ++it) todo.push_back({{&*it, n.node, it.key(), 0}, depth + 1});
      else if (n.node->is_array())
        for (size_t i = 0; i < n.node->size(); ++i) todo.push_back({{&(*n.node)[i], n.node, {}, i}, depth + 1});
    }
    const Node& target = nodes[pick(nodes.size())];
    if (!raw) {
      change(*target.node);
      return doc.dump();
    }
    if (raw->empty()) {
      if (!target.parent) return text;
      target.parent->is_object() ? void(target.parent->erase(target.key)) : target.parent->erase(target.index);
      return doc.dump();
    }
    // A marker string stands in for the node, then the raw text replaces the marker.
    const std::string marker = "@@fuzz-marker@@";
    *target.node = marker;
    std::string out = doc.dump();
    const size_t at = out.find('"' + marker + '"');
    return at == std::string::npos ? out : out.replace(at, marker.size() + 2, *raw);
  }
};

// DECODESIM_FUZZ_ITERATIONS and DECODESIM_FUZZ_SEED widen a run; CI takes the defaults.
long env_or(const char* name, long dflt) {
  const char* env = std::getenv(name);
  const std::optional<long long> v = env ? integer_in(env, {0, 1L << 40}) : std::nullopt;
  return v ? static_cast<long>(*v) : dflt;
}

}  // namespace

TEST_CASE("every shipped file loads and passes the checks the mutants face", "[fuzz]") {
  for (const Seed& s : seeds()) {
    INFO(s.file);
    CHECK_NOTHROW(fuzz::load_checked(s.kind, s.text, s.file));
  }
}

TEST_CASE("mutated files: InputError or a sound result, never a crash or another exception", "[fuzz]") {
  const std::vector<Seed> corpus = seeds();
  REQUIRE(corpus.size() >= 20);
  Mutator mutate(static_cast<uint32_t>(env_or("DECODESIM_FUZZ_SEED", 20260725)));
  long refused = 0, loaded = 0;
  const long n = env_or("DECODESIM_FUZZ_ITERATIONS", 2500);
  for (long i = 0; i < n; ++i) {
    const Seed& seed = corpus[static_cast<size_t>(i) % corpus.size()];
    std::string what;
    const std::string text = mutate.mutate(seed.text, what);
    try {
      fuzz::load_checked(seed.kind, text, seed.file);
      ++loaded;
    } catch (const InputError& e) {
      const std::string msg = e.what();
      ++refused;
      // One bounded line, whatever the input held.
      if (msg.empty() || msg.find('\n') != std::string::npos || msg.size() > 8192) {
        FAIL_CHECK("iteration " << i << " (" << seed.file << ":" << what << "): bad message: " << printable(msg, 300));
      }
    } catch (const std::exception& e) {
      const std::string keep = fmt::format("fuzz-failure-{}.json", i);
      std::ofstream(keep, std::ios::binary) << text;
      FAIL_CHECK("iteration " << i << " (" << seed.file << ":" << what << "): " << e.what() << " (input saved to " << keep << ")");
    }
  }
  // Both outcomes occur: the mutants reach past the parser into the analyses.
  CHECK(refused > n / 4);
  CHECK(loaded > n / 50);
  WARN(n << " mutants: " << refused << " refused, " << loaded << " loaded and checked");
}
