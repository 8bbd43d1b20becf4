// Opening what a user names as input without letting it block or run unbounded: a FIFO would
// block in open(), /dev/zero or a terminal would be read forever, a folder reads as an error
// somewhere else. Only regular files (links to them included) are read, and no more than a
// bound of them.
#pragma once
#include <filesystem>
#include <string>

namespace decodesim::io {

// A descriptor open for reading on a regular file, closed with the object.
class InputFile {
 public:
  // Refuses (InputError naming `shown`, "cannot read file: ...") anything that stat() does not
  // call a regular file, before open(); opens without blocking and checks the descriptor again,
  // since the name may have changed in between. `shown` is the name messages print.
  InputFile(const std::filesystem::path& path, const std::string& shown);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  // Up to `n` bytes into `buffer`; 0 at the end of the file. InputError on a read error.
  size_t read(char* buffer, size_t n);
  long long size() const { return size_; }  // as fstat() reported it when opened

 private:
  int fd_ = -1;
  long long size_ = 0;
  std::string shown_;
};

// The whole file, refused with "{shown}: $: expected at most {max_bytes} bytes, got N" past
// `max_bytes` (checked on its size first, then on what is read: a file may grow).
std::string read_input_file(const std::filesystem::path& path, const std::string& shown, long long max_bytes);

}  // namespace decodesim::io
