// The command line run from inside another program (the Python module, src/python): the same
// option parsing, defaults, checks and messages as `decodesim ...`, but the tables a command
// produces are handed back instead of printed. Everything a command does is reached through
// `main`, so an option or command the CLI gains is there for callers with no change here.
#pragma once
#include <string>
#include <vector>

#include "decodesim/table.hpp"

namespace CLI {
class App;
}

namespace decodesim::cli {

struct CommandRun {
  int exit_code = 0;          // as `main`: 0 ok, 2 bad input, 1 other failure
  std::vector<Table> tables;  // every table the command produced, in the order it prints them
  std::string out;            // text printed besides the tables (`list`, `import`, `calibrate`)
  std::string err;            // messages; on failure, the CLI's one-line error last
};

// Runs `decodesim args...` (args without the program name). Files asked for with --out or
// --trace are written as the CLI writes them; nothing is printed. Calls on one thread at a time.
CommandRun run_embedded(const std::vector<std::string>& args);

// A command's options as `main` declares them, for callers that map their own arguments onto
// the command line (keyword arguments onto --options) and document them.
struct OptionSpec {
  std::string name;           // long name without "--" (model, attention-hardware), or a positional's name
  bool positional = false;    // given without a name (`run SCENARIO`, `import CONFIG`)
  bool flag = false;          // takes no value (--afd)
  bool repeatable = false;    // takes several values, each its own --name (--calibration)
  bool required = false;
  std::string default_value;  // as --help shows it; empty when none is shown
  std::string description;
};
struct CommandSpec {
  std::string name;
  std::string description;
  std::vector<OptionSpec> options;  // --help and --help-all left out
};
std::vector<CommandSpec> command_specs();

// For `main` and `emit` (src/cli/cli.cpp) only.
namespace embedded {
// While run_embedded runs on this thread: where `emit` puts tables instead of printing them.
std::vector<Table>* table_sink();
// While command_specs runs on this thread: reads the declared commands out of `app` and
// returns true, and `main` returns without parsing anything.
bool inspect(const CLI::App& app);
}  // namespace embedded

}  // namespace decodesim::cli
