// Validating view over a parsed JSON object: every read names its JSON path in errors, and
// finish() rejects keys nobody read (typos), so a misspelt optional key never passes silently.
#pragma once
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"

namespace decodesim::io {

using nlohmann::json;

// A short rendering of a value for messages: scalars as JSON (strings escaped and cut),
// containers by their size only, so describing never recurses into user data.
std::string describe(const json& j);
// Parses a whole document, refusing what nlohmann would let through: NUL bytes (its end of
// input), duplicate keys (it keeps the last), nesting deeper than limits::kMaxJsonDepth and
// documents larger than limits::kMaxInputBytes. `file` names the source in errors.
json parse_json_text(const std::string& text, const std::string& file);
// Reads and parses a whole file; any failure is an InputError naming the file.
json parse_json_file(const std::filesystem::path& p);

// A JSON number as an integer in r, or as a finite number in r; anything else is an InputError
// naming file and path.
long long checked_integer(const json& v, limits::IntRange r, const std::string& file, const std::string& path);
double checked_number(const json& v, limits::Range r, const std::string& file, const std::string& path);

class ObjectReader {
 public:
  ObjectReader(const json& j, std::string file, std::string path);

  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;
  [[noreturn]] void fail_value(const std::string& key, const std::string& expected, const json& got) const;
  std::string path_of(const std::string& key) const;
  const std::string& file() const { return file_; }      // as messages show it
  const std::string& source() const { return source_; }  // as given, for nested readers

  bool has(const std::string& key) const { return j_.contains(key); }
  const json& raw(const std::string& key);  // required, any type

  std::string string(const std::string& key);
  std::optional<std::string> opt_string(const std::string& key);
  // Lower-case letters, digits, '-', '.', '_', at most limits::kMaxIdLength: an id or a type name.
  std::string name(const std::string& key);
  long long integer(const std::string& key, limits::IntRange r);
  long long opt_integer(const std::string& key, limits::IntRange r, long long dflt);
  double number(const std::string& key, limits::Range r);
  std::optional<double> opt_number(const std::string& key, limits::Range r);
  bool opt_bool(const std::string& key, bool dflt);
  ObjectReader object(const std::string& key);
  const json& array(const std::string& key, size_t max_size);  // non-empty

  void finish() const;  // throws on keys not read

 private:
  const json& get(const std::string& key);
  const json& j_;
  std::string source_, file_;
  std::string path_;
  std::set<std::string> read_;
};

// The rule ObjectReader::name applies, for names that are not JSON values (options, file names).
bool is_plain_name(const std::string& s);

}  // namespace decodesim::io
