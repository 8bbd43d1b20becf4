// Bad input is reported as one line naming the file, the JSON path and what was expected;
// the CLI turns it into exit code 2 before any output file is written.
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

namespace decodesim {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// User text fit to echo in a one-line message: control characters and bytes that are not
// UTF-8 escaped (\n, \x01), and anything past max_bytes cut with a note of the full length.
std::string printable(std::string_view text, size_t max_bytes = 64);

}  // namespace decodesim
