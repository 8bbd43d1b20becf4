#include "input_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "decodesim/errors.hpp"

namespace decodesim::io {

namespace {

[[noreturn]] void cannot_read(const std::string& shown, const std::string& why) {
  throw InputError(fmt::format("{}: cannot read file: {}", shown, why));
}

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder, not a regular file";
  if (S_ISFIFO(mode)) return "a pipe (FIFO), not a regular file";
  if (S_ISCHR(mode)) return "a character device, not a regular file";
  if (S_ISBLK(mode)) return "a block device, not a regular file";
  if (S_ISSOCK(mode)) return "a socket, not a regular file";
  return "not a regular file";
}

}  // namespace

InputFile::InputFile(const std::filesystem::path& path, const std::string& shown) : shown_(shown) {
  struct stat st {};
  // stat(), not lstat(): a link to a regular file is read as the file; what it points at is checked.
  if (::stat(path.c_str(), &st) != 0) cannot_read(shown, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) cannot_read(shown, kind_of(st.st_mode));
  // O_NONBLOCK: should the name have become a FIFO since stat(), open() returns at once.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd_ < 0) cannot_read(shown, std::strerror(errno));
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string why = kind_of(st.st_mode);
    ::close(fd_);
    fd_ = -1;
    cannot_read(shown, why);
  }
  size_ = static_cast<long long>(st.st_size);
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

size_t InputFile::read(char* buffer, size_t n) {
  for (;;) {
    const ssize_t got = ::read(fd_, buffer, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) cannot_read(shown_, std::strerror(errno));
  }
}

std::string read_input_file(const std::filesystem::path& path, const std::string& shown, long long max_bytes) {
  InputFile in(path, shown);
  auto too_big = [&](long long got) {
    throw InputError(fmt::format("{}: $: expected at most {} bytes, got {}", shown, max_bytes, got));
  };
  if (in.size() > max_bytes) too_big(in.size());
  std::string text;
  text.resize(static_cast<size_t>(in.size()) + 1);  // one byte more shows whether it grew
  size_t used = 0;
  for (;;) {
    if (used == text.size()) {
      if (static_cast<long long>(used) > max_bytes) too_big(static_cast<long long>(used));
      text.resize(std::min<size_t>(text.size() * 2 + 4096, static_cast<size_t>(max_bytes) + 1));
    }
    const size_t got = in.read(text.data() + used, text.size() - used);
    if (got == 0) break;
    used += got;
  }
  if (static_cast<long long>(used) > max_bytes) too_big(static_cast<long long>(used));
  text.resize(used);
  return text;
}

}  // namespace decodesim::io
