// The pipeline bench's CSV (bench/gpu/pipeline_bench.cu), read by name of column.
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/loader.hpp"
#include "input_file.hpp"
#include "text_fields.hpp"

namespace decodesim {

std::vector<ServedRun> load_served_runs(const std::string& path) {
  std::istringstream in(io::read_input_file(path, printable(path, 256), limits::kMaxInputBytes));
  static const std::vector<std::string> kNeeded = {"deployment", "model", "gpus", "context", "batch", "micro_batches",
                                                   "layers", "kv_dtype", "measured_tpot_ms"};
  std::map<std::string, size_t> col;
  std::vector<ServedRun> out;
  std::string line;
  long line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string row = io::trimmed(line);
    if (row.empty() || row[0] == '#') continue;
    const std::vector<std::string> f = io::split(row, ',');
    if (col.empty()) {
      for (size_t i = 0; i < f.size(); ++i) col[f[i]] = i;
      for (const std::string& c : kNeeded)
        if (!col.count(c)) throw InputError(fmt::format("{}: line {}: the header has no column '{}'", path, line_no, c));
      continue;
    }
    auto text = [&](const std::string& c) -> const std::string& {
      if (col[c] >= f.size()) throw InputError(fmt::format("{}: line {}: no field for '{}'", path, line_no, c));
      return f[col[c]];
    };
    auto bad = [&](const std::string& c, const std::string& range) {
      throw InputError(fmt::format("{}: line {}: {}: expected {}, got '{}'", path, line_no, c, range, printable(text(c))));
    };
    // Counts read as integers in range: a float cast to int would wrap (or be undefined) past INT_MAX.
    auto count = [&](const std::string& c, limits::IntRange r) {
      const std::optional<long long> v = integer_in(text(c), r);
      if (!v) bad(c, "an integer in " + limits::to_string(r));
      return static_cast<int>(*v);
    };
    auto positive = [&](const std::string& c, limits::Range r) {
      const std::optional<double> v = number_in(text(c), r);
      if (!v) bad(c, "a number in " + limits::to_string(r));
      return *v;
    };
    ServedRun r;
    r.deployment = text("deployment"), r.model = text("model"), r.kv_dtype = text("kv_dtype");
    r.gpus = count("gpus", limits::kGpus), r.context = positive("context", {1, double(limits::kContextTokens.hi), false});
    r.batch = positive("batch", limits::kTokens);
    r.micro_batches = count("micro_batches", limits::kMicroBatches), r.layers = count("layers", limits::kLayers);
    r.measured_tpot_ms = positive("measured_tpot_ms", limits::kTpotMs);
    out.push_back(r);
  }
  if (out.empty()) throw InputError(fmt::format("{}: no runs", path));
  return out;
}

}  // namespace decodesim
