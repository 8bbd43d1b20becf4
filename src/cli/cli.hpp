#pragma once
#include <ostream>

namespace decodesim::cli {

// The whole command line; returns the process exit code (0 ok, 2 bad input, 1 other failure).
int main(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace decodesim::cli
