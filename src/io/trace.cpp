#include "decodesim/trace.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"
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
    throw InputError(fmt::format("{}: '{}': expected N, uniform:MIN:MAX (whole tokens, 1 <= MIN <= MAX) or "
                                 "lognormal:MEAN:SIGMA (MEAN >= 1, SIGMA >= 0)",
                                 option, printable(text)));
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
    if (!mean || !sigma || *mean < 1 || *mean > 1e9 || *sigma < 0) return bad();
    d.kind = LengthDist::Kind::lognormal, d.a = *mean, d.b = *sigma;
  } else {
    return bad();
  }
  return d;
}

std::vector<Request> load_trace(const std::string& path_text) {
  const std::string path = printable(path_text, 256);  // as messages show it
  std::error_code ec;
  std::ifstream in(path_text, std::ios::binary);
  if (!in || std::filesystem::is_directory(path_text, ec)) throw InputError(fmt::format("{}: cannot read file", path));
  static const char* kColumns[] = {"arrival_s", "input_tokens", "output_tokens"};
  std::vector<Request> out;
  std::string line;
  long line_no = 0;
  bool first = true;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string row = trimmed(line);
    if (row.empty() || row[0] == '#') continue;
    const std::vector<std::string> f = split(row, ',');
    if (first && !number(f[0])) {  // a header
      first = false;
      if (f.size() != 3 || f[0] != kColumns[0] || f[1] != kColumns[1] || f[2] != kColumns[2])
        throw InputError(fmt::format("{}: line {}: expected the header arrival_s,input_tokens,output_tokens, got '{}'", path,
                                     line_no, printable(row)));
      continue;
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
  }
  if (in.bad()) throw InputError(fmt::format("{}: cannot read file", path));
  if (out.empty()) throw InputError(fmt::format("{}: no requests (expected lines arrival_s,input_tokens,output_tokens)", path));
  std::stable_sort(out.begin(), out.end(), [](const Request& a, const Request& b) { return a.arrival_s < b.arrival_s; });
  return out;
}

}  // namespace decodesim
