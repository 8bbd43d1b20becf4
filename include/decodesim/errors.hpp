// Bad input is reported as one line naming the file, the JSON path and what was expected;
// the CLI turns it into exit code 2 before any output file is written.
#pragma once
#include <stdexcept>
#include <string>

namespace decodesim {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace decodesim
