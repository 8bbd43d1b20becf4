#include "decodesim/limits.hpp"

#include <charconv>

#include <fmt/format.h>

namespace decodesim::limits {

std::string to_string(IntRange r) { return fmt::format("[{}, {}]", r.lo, r.hi); }

// Ten digits: token bounds such as 2^30 print exactly.
std::string to_string(Range r) { return fmt::format("{}{:.10g}, {:.10g}]", r.lo_open ? "(" : "[", r.lo, r.hi); }

}  // namespace decodesim::limits

namespace decodesim {

std::optional<long long> integer_in(const std::string& text, limits::IntRange r) {
  long long v = 0;
  const char* end = text.data() + text.size();
  if (text.empty() || text[0] == '-') return std::nullopt;
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || !r.contains(v)) return std::nullopt;
  return v;
}

std::optional<double> number_in(const std::string& text, limits::Range r) {
  double v = 0;
  const char* end = text.data() + text.size();
  // from_chars reads "inf" and "nan" too; the range refuses them.
  const auto [ptr, ec] = std::from_chars(text.data(), end, v, std::chars_format::general);
  if (text.empty() || ec != std::errc() || ptr != end || !r.contains(v)) return std::nullopt;
  return v;
}

}  // namespace decodesim
