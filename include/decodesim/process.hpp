// Running another program (gnuplot; the executable, from the benchmark) without a shell.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace decodesim {

// The program's path in the folders of `path` (a PATH value), if it is there and executable.
std::optional<std::string> find_on_path(const std::string& program, const std::string& path);

struct ProcessResult {
  int exit_code = -1;  // -1: could not be started, or ended by a signal
  double wall_ms = 0;
  double cpu_ms = 0;      // user + system time of the process and the children it waited for
  double max_rss_mb = 0;  // peak resident memory of the process (and of those children)
};

// Runs argv[0] (a path) with stdout and stderr discarded and waits for it. With `path`, the child's
// PATH is replaced by it; the rest of the environment is passed on.
ProcessResult run_quietly(const std::vector<std::string>& argv, const std::optional<std::string>& path = std::nullopt);

// A program started now and given its input later, so that its start-up overlaps the caller's
// work. Its stdin is a socket (writing to it never raises SIGPIPE), its output is discarded.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);  // argv[0]: a path
  ~Child();  // closes its input (the program reads end of input) and waits for it
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  // Sends the whole input, closes it and waits: the exit code, -1 when it did not run or was killed.
  int finish(const std::string& input);

 private:
  int pid_ = -1;
  int input_fd_ = -1;
};

}  // namespace decodesim
