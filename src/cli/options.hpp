// Checks for numeric options: decimal text in the option's range (include/decodesim/limits.hpp),
// rewritten in canonical form so CLI11's own conversion (which reads hex and octal) sees only
// plain digits. NaN, infinities and values that would wrap are refused with a one-line message.
#pragma once
#include <CLI/CLI.hpp>

#include "decodesim/limits.hpp"

namespace decodesim::cli {

CLI::Validator integer_option(limits::IntRange r);
CLI::Validator number_option(limits::Range r);

}  // namespace decodesim::cli
