// Traffic inputs from outside: token-count distributions as written on the command line, and
// request traces as CSV. Parsed and validated here only; errors name the input and what was expected.
#pragma once
#include <string>
#include <vector>

#include "decodesim/traffic.hpp"

namespace decodesim {

// "4096", "uniform:MIN:MAX" (whole tokens, 1 <= MIN <= MAX) or "lognormal:MEAN:SIGMA" (MEAN >= 1
// tokens, SIGMA >= 0 in log space). `option` names the source in errors. Throws InputError.
LengthDist parse_length_dist(const std::string& text, const std::string& option);

// CSV `arrival_s,input_tokens,output_tokens`, header line optional, `#` comments and blank lines
// skipped; arrivals >= 0 seconds, token counts whole and positive. Sorted by arrival (stable).
// Throws InputError naming the file, the line and the column.
std::vector<Request> load_trace(const std::string& path);

}  // namespace decodesim
