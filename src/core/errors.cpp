#include "decodesim/errors.hpp"

#include <iterator>

#include <fmt/format.h>

namespace decodesim {

namespace {

// Length of the well-formed UTF-8 sequence starting at s[i], 0 when it is not one.
size_t utf8_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  const size_t n = c >= 0xF5 ? 0 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

}  // namespace

std::string printable(std::string_view text, size_t max_bytes) {
  std::string out;
  size_t i = 0;
  while (i < text.size() && out.size() < max_bytes) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c), ++i;
    } else if (const size_t n = c >= 0x80 ? utf8_length(text, i) : 0) {
      out.append(text.data() + i, n), i += n;
    } else {
      if (c == '\n') out.append("\\n");
      else if (c == '\t') out.append("\\t");
      else fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
      ++i;
    }
  }
  if (i < text.size()) fmt::format_to(std::back_inserter(out), "... ({} bytes)", text.size());
  return out;
}

}  // namespace decodesim
