#include "decodesim/process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string_view>

extern char** environ;

namespace decodesim {

std::optional<std::string> find_on_path(const std::string& program, const std::string& path) {
  for (size_t start = 0; start <= path.size();) {
    const size_t end = std::min(path.find(':', start), path.size());
    const std::string dir = end > start ? path.substr(start, end - start) : ".";  // an empty entry is the current folder
    const std::string candidate = dir + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

namespace {

// The parent's environment with PATH replaced when `path` is given.
struct Environment {
  std::vector<std::string> text;
  std::vector<char*> pointers;
  explicit Environment(const std::optional<std::string>& path) {
    for (char** e = environ; *e; ++e)
      if (!path || std::string_view(*e).substr(0, 5) != "PATH=") text.emplace_back(*e);
    if (path) text.push_back("PATH=" + *path);
    for (std::string& e : text) pointers.push_back(e.data());
    pointers.push_back(nullptr);
  }
};

std::vector<char*> arguments(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return args;
}

// Output to /dev/null; with `input_fd` (close-on-exec, as every other descriptor of ours should
// be), that descriptor becomes stdin.
pid_t spawn(const std::vector<std::string>& argv, const Environment& env, int input_fd = -1) {
  std::vector<char*> args = arguments(argv);
  posix_spawn_file_actions_t io;
  posix_spawn_file_actions_init(&io);
  if (input_fd >= 0) posix_spawn_file_actions_adddup2(&io, input_fd, 0);
  posix_spawn_file_actions_addopen(&io, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&io, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0], &io, nullptr, args.data(), const_cast<char**>(env.pointers.data())) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&io);
  return pid;
}

// Waits for the child; its exit code (-1 when killed) and resource use.
int wait_for(pid_t pid, rusage* usage) {
  int status = 0;
  while (wait4(pid, &status, 0, usage) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

ProcessResult run_quietly(const std::vector<std::string>& argv, const std::optional<std::string>& path) {
  ProcessResult r;
  if (argv.empty()) return r;
  const Environment env(path);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = spawn(argv, env);
  if (pid < 0) return r;
  rusage usage{};
  r.exit_code = wait_for(pid, &usage);
  r.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec * 1e-3; };
  r.cpu_ms = ms(usage.ru_utime) + ms(usage.ru_stime);
  r.max_rss_mb = usage.ru_maxrss / 1024.0;
  return r;
}

Child::Child(const std::vector<std::string>& argv) {
  int ends[2];
  if (argv.empty() || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) return;
  pid_ = spawn(argv, Environment(std::nullopt), ends[1]);
  close(ends[1]);
  if (pid_ > 0) input_fd_ = ends[0];
  else close(ends[0]);
}

int Child::finish(const std::string& input) {
  if (pid_ <= 0) return -1;
  for (size_t sent = 0; sent < input.size();) {
    const ssize_t n = send(input_fd_, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // it stopped reading (it failed, or ended): its exit code says which
    sent += static_cast<size_t>(n);
  }
  close(input_fd_);
  input_fd_ = -1;
  const int code = wait_for(pid_, nullptr);
  pid_ = -1;
  return code;
}

Child::~Child() {
  if (pid_ > 0) finish("");
}

}  // namespace decodesim
