#include "decodesim/limits.hpp"

#include <fmt/format.h>

namespace decodesim::limits {

std::string to_string(IntRange r) { return fmt::format("[{}, {}]", r.lo, r.hi); }

// Ten digits: token bounds such as 2^30 print exactly.
std::string to_string(Range r) { return fmt::format("{}{:.10g}, {:.10g}]", r.lo_open ? "(" : "[", r.lo, r.hi); }

}  // namespace decodesim::limits
