#include "json_reader.hpp"

#include "input_file.hpp"

#include <algorithm>
#include <vector>

namespace decodesim::io {

namespace {

constexpr size_t kFileNameInMessage = 256;  // bytes of a file name echoed in a message

std::string position_of(const std::string& text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset; ++i) text[i] == '\n' ? (++line, column = 1) : ++column;
  return fmt::format("line {}, column {}", line, column);
}

}  // namespace

json parse_json_text(const std::string& text, const std::string& file_name) {
  const std::string file = printable(file_name, kFileNameInMessage);
  if (text.size() > static_cast<size_t>(limits::kMaxInputBytes))
    throw InputError(fmt::format("{}: $: expected at most {} bytes, got {}", file, limits::kMaxInputBytes, text.size()));
  if (const size_t nul = text.find('\0'); nul != std::string::npos)
    throw InputError(fmt::format("{}: $: malformed JSON: a NUL byte at {}", file, position_of(text, nul)));

  // Where the parser is, for messages: one frame per open container.
  struct Frame {
    bool array = false;
    size_t index = 0;          // array: the element being read
    std::string key;           // object: the member being read
    std::set<std::string> keys;
  };
  std::vector<Frame> open;
  auto path = [&] {
    std::string p = "$";
    for (const Frame& f : open) f.array ? p.append(fmt::format("[{}]", f.index)) : p.append(".").append(printable(f.key));
    return p;
  };
  auto element_done = [&] {
    if (!open.empty() && open.back().array) ++open.back().index;
  };
  const json::parser_callback_t check = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (open.size() >= static_cast<size_t>(limits::kMaxJsonDepth))
          throw InputError(fmt::format("{}: {}: expected at most {} levels of nesting", file, path(), limits::kMaxJsonDepth));
        open.push_back({event == json::parse_event_t::array_start, 0, {}, {}});
        break;
      case json::parse_event_t::key:
        open.back().key = parsed.get<std::string>();
        if (!open.back().keys.insert(open.back().key).second)
          throw InputError(fmt::format("{}: {}: duplicate key", file, path()));
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        open.pop_back();
        element_done();
        break;
      case json::parse_event_t::value: element_done(); break;
    }
    return true;
  };
  try {
    return json::parse(text, check);
  } catch (const json::exception& e) {
    // nlohmann's message carries the line and column (or the number that overflowed).
    std::string msg = e.what();
    if (auto pos = msg.find("] "); pos != std::string::npos) msg = msg.substr(pos + 2);
    throw InputError(fmt::format("{}: $: malformed JSON: {}", file, printable(msg, 200)));
  }
}

json parse_json_file(const std::filesystem::path& p) {
  const std::string file = printable(p.string(), kFileNameInMessage);
  return parse_json_text(read_input_file(p, file, limits::kMaxInputBytes), p.string());
}

std::string describe(const json& j) {
  constexpr size_t kMax = 40;
  switch (j.type()) {
    case json::value_t::array: return fmt::format("an array of {} elements", j.size());
    case json::value_t::object: return fmt::format("an object of {} keys", j.size());
    case json::value_t::string: {
      const std::string& s = j.get_ref<const std::string&>();
      std::string shown = printable(s, kMax);
      return "\"" + shown + "\"";
    }
    default: {
      std::string s = j.dump();
      if (s.size() > kMax) s = s.substr(0, kMax - 3) + "...";
      return s;
    }
  }
}

long long checked_integer(const json& v, limits::IntRange r, const std::string& file, const std::string& path) {
  long long x = 0;
  bool ok = false;
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    ok = u <= static_cast<std::uint64_t>(r.hi) && r.contains(x = static_cast<long long>(u));
  } else if (v.is_number_integer()) {
    ok = r.contains(x = v.get<std::int64_t>());
  }
  if (!ok) throw InputError(fmt::format("{}: {}: expected an integer in {}, got {}", file, path, to_string(r), describe(v)));
  return x;
}

double checked_number(const json& v, limits::Range r, const std::string& file, const std::string& path) {
  const double d = v.is_number() ? v.get<double>() : NAN;
  if (!r.contains(d)) throw InputError(fmt::format("{}: {}: expected a number in {}, got {}", file, path, to_string(r), describe(v)));
  return d;
}

bool is_plain_name(const std::string& s) {
  if (s.empty() || s.size() > static_cast<size_t>(limits::kMaxIdLength)) return false;
  for (char ch : s)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_')) return false;
  return true;
}

ObjectReader::ObjectReader(const json& j, std::string file, std::string path)
    : j_(j), source_(std::move(file)), file_(printable(source_, kFileNameInMessage)), path_(std::move(path)) {
  if (!j_.is_object()) throw InputError(fmt::format("{}: {}: expected an object, got {}", file_, path_, describe(j_)));
}

std::string ObjectReader::path_of(const std::string& key) const { return path_ + "." + printable(key); }

void ObjectReader::fail(const std::string& key, const std::string& expected) const {
  // Callers may quote what they read: escaped and cut here, whatever they built.
  throw InputError(fmt::format("{}: {}: {}", file_, path_of(key), printable(expected, 1024)));
}

void ObjectReader::fail_value(const std::string& key, const std::string& expected, const json& got) const {
  fail(key, fmt::format("expected {}, got {}", expected, describe(got)));
}

const json& ObjectReader::get(const std::string& key) {
  read_.insert(key);
  return j_.at(key);
}

const json& ObjectReader::raw(const std::string& key) {
  if (!has(key)) fail(key, "missing required key");
  return get(key);
}

std::string ObjectReader::string(const std::string& key) {
  constexpr size_t kMaxBytes = 4096;  // names, sources and labels; the longest shipped is a 700-byte source
  const json& v = raw(key);
  const std::string* s = v.is_string() ? &v.get_ref<const std::string&>() : nullptr;
  // A control character would break the one-line messages and tables, or drive a terminal.
  if (!s || s->empty() || s->size() > kMaxBytes ||
      std::any_of(s->begin(), s->end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7F; }))
    fail_value(key, fmt::format("a non-empty string of at most {} bytes without control characters", kMaxBytes), v);
  return *s;
}

std::optional<std::string> ObjectReader::opt_string(const std::string& key) {
  if (!has(key)) return std::nullopt;
  return string(key);
}

std::string ObjectReader::name(const std::string& key) {
  const json& v = raw(key);
  if (!v.is_string() || !is_plain_name(v.get_ref<const std::string&>()))
    fail_value(key, fmt::format("a name of lower-case letters, digits, '-', '.', '_' (at most {})", limits::kMaxIdLength), v);
  return v.get<std::string>();
}

long long ObjectReader::integer(const std::string& key, limits::IntRange r) {
  return checked_integer(raw(key), r, file_, path_of(key));
}

long long ObjectReader::opt_integer(const std::string& key, limits::IntRange r, long long dflt) {
  return has(key) ? integer(key, r) : dflt;
}

double ObjectReader::number(const std::string& key, limits::Range r) { return checked_number(raw(key), r, file_, path_of(key)); }

std::optional<double> ObjectReader::opt_number(const std::string& key, limits::Range r) {
  if (!has(key)) return std::nullopt;
  return number(key, r);
}

bool ObjectReader::opt_bool(const std::string& key, bool dflt) {
  if (!has(key)) return dflt;
  const json& v = get(key);
  if (!v.is_boolean()) fail_value(key, "true or false", v);
  return v.get<bool>();
}

ObjectReader ObjectReader::object(const std::string& key) {
  const json& v = raw(key);
  if (!v.is_object()) fail_value(key, "an object", v);
  return ObjectReader(v, source_, path_of(key));
}

const json& ObjectReader::array(const std::string& key, size_t max_size) {
  const json& v = raw(key);
  if (!v.is_array() || v.empty() || v.size() > max_size)
    fail_value(key, fmt::format("a non-empty array of at most {} elements", max_size), v);
  return v;
}

void ObjectReader::finish() const {
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    const std::string& k = it.key();
    if (k.empty() || k[0] == '_' || read_.count(k)) continue;
    throw InputError(fmt::format("{}: {}: unknown key (a typo?)", file_, path_of(k)));
  }
}

}  // namespace decodesim::io
