#include <iostream>

#include "cli/cli.hpp"

int main(int argc, char** argv) { return decodesim::cli::main(argc, argv, std::cout, std::cerr); }
