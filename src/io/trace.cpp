#include "decodesim/trace.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"
#include "input_file.hpp"
#include "text_fields.hpp"

namespace decodesim {

using io::number;
using io::split;
using io::trimmed;

namespace {

// A whole number of tokens: positive, an integer, and below the samplers' cap.
std::optional<long> tokens(const std::string& s) {
  const std::optional<double> v = number(s);
  if (!v || *v < 1 || *v > 1e9 || *v != std::floor(*v)) return std::nullopt;
  return static_cast<long>(*v);
}

}  // namespace

LengthDist parse_length_dist(const std::string& text, const std::string& option) {
  auto bad = [&]() -> LengthDist {
    throw InputError(fmt::format("{}: '{}': expected N, uniform:MIN:MAX (whole tokens, 1 <= MIN <= MAX <= 1e9) or "
                                 "lognormal:MEAN:SIGMA (MEAN in [1, 1e9], SIGMA in {})",
                                 option, printable(text), limits::to_string(limits::kLengthSigma)));
  };
  const std::vector<std::string> parts = split(trimmed(text), ':');
  LengthDist d;
  if (parts.size() == 1) {
    const std::optional<long> n = tokens(parts[0]);
    if (!n) return bad();
    d.kind = LengthDist::Kind::fixed, d.a = double(*n);
  } else if (parts.size() == 3 && parts[0] == "uniform") {
    const std::optional<long> lo = tokens(parts[1]), hi = tokens(parts[2]);
    if (!lo || !hi || *lo > *hi) return bad();
    d.kind = LengthDist::Kind::uniform, d.a = double(*lo), d.b = double(*hi);
  } else if (parts.size() == 3 && parts[0] == "lognormal") {
    const std::optional<double> mean = number(parts[1]), sigma = number(parts[2]);
    if (!mean || !sigma || *mean < 1 || *mean > 1e9 || !limits::kLengthSigma.contains(*sigma)) return bad();
    d.kind = LengthDist::Kind::lognormal, d.a = *mean, d.b = *sigma;
  } else {
    return bad();
  }
  return d;
}

std::vector<Request> load_trace(const std::string& path_text) {
  const std::string path = printable(path_text, 256);  // as messages show it
  io::InputFile in(path_text, path);
  if (in.size() > limits::kMaxTraceBytes)
    throw InputError(fmt::format("{}: expected at most {} bytes, got {}", path, limits::kMaxTraceBytes, in.size()));
  static const char* kColumns[] = {"arrival_s", "input_tokens", "output_tokens"};
  // A line of three numbers is short: a longer one is not a trace (and is not held in memory whole).
  constexpr size_t kMaxLineBytes = 4096;
  std::vector<Request> out;
  long line_no = 0;
  bool first = true;
  auto take = [&](const std::string& line) {
    ++line_no;
    const std::string row = trimmed(line);
    if (row.empty() || row[0] == '#') return;
    const std::vector<std::string> f = split(row, ',');
    if (first && !number(f[0])) {  // a header
      first = false;
      if (f.size() != 3 || f[0] != kColumns[0] || f[1] != kColumns[1] || f[2] != kColumns[2])
        throw InputError(fmt::format("{}: line {}: expected the header arrival_s,input_tokens,output_tokens, got '{}'", path,
                                     line_no, printable(row)));
      return;
    }
    first = false;
    if (f.size() != 3)
      throw InputError(fmt::format("{}: line {}: expected 3 fields (arrival_s,input_tokens,output_tokens), got {}", path, line_no,
                                   f.size()));
    Request r;
    const std::optional<double> arrival = number(f[0]);
    if (!arrival || *arrival < 0 || *arrival > limits::kSeconds.hi)
      throw InputError(fmt::format("{}: line {}: arrival_s: expected seconds in [0, {:g}], got '{}'", path, line_no,
                                   limits::kSeconds.hi, printable(f[0])));
    r.arrival_s = *arrival;
    for (int col : {1, 2}) {
      const std::optional<long> n = tokens(f[col]);
      if (!n)
        throw InputError(
            fmt::format("{}: line {}: {}: expected a whole number of tokens >= 1, got '{}'", path, line_no, kColumns[col],
                        printable(f[col])));
      (col == 1 ? r.input_tokens : r.output_tokens) = *n;
    }
    out.push_back(r);
    if (static_cast<double>(out.size()) > limits::kMaxRequests)
      throw InputError(fmt::format("{}: line {}: more than {:.0f} requests", path, line_no, limits::kMaxRequests));
  };
  std::string line;
  std::vector<char> buffer(1 << 16);
  long long total = 0;
  for (size_t got; (got = in.read(buffer.data(), buffer.size())) > 0;) {
    total += static_cast<long long>(got);
    if (total > limits::kMaxTraceBytes)  // it grew since it was opened
      throw InputError(fmt::format("{}: expected at most {} bytes", path, limits::kMaxTraceBytes));
    for (size_t i = 0; i < got;) {
      const char* nl = static_cast<const char*>(std::memchr(buffer.data() + i, '\n', got - i));
      const size_t end = nl ? static_cast<size_t>(nl - buffer.data()) : got;
      if (line.size() + (end - i) > kMaxLineBytes)
        throw InputError(fmt::format("{}: line {}: expected at most {} bytes in a line", path, line_no + 1, kMaxLineBytes));
      line.append(buffer.data() + i, end - i);
      i = end;
      if (!nl) break;
      take(line);
      line.clear();
      ++i;
    }
  }
  if (!line.empty()) take(line);
  if (out.empty()) throw InputError(fmt::format("{}: no requests (expected lines arrival_s,input_tokens,output_tokens)", path));
  std::stable_sort(out.begin(), out.end(), [](const Request& a, const Request& b) { return a.arrival_s < b.arrival_s; });
  return out;
}

}  // namespace decodesim
