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

namespace decodesim::io {

using nlohmann::json;

std::string describe(const json& j);
// Reads and parses a whole file; any failure is an InputError naming the file.
json parse_json_file(const std::filesystem::path& p);

class ObjectReader {
 public:
  ObjectReader(const json& j, std::string file, std::string path);

  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;
  [[noreturn]] void fail_value(const std::string& key, const std::string& expected, const json& got) const;
  std::string path_of(const std::string& key) const;
  const std::string& file() const { return file_; }

  bool has(const std::string& key) const { return j_.contains(key); }
  const json& raw(const std::string& key);  // required, any type

  std::string string(const std::string& key);
  std::optional<std::string> opt_string(const std::string& key);
  double positive(const std::string& key);                 // finite, > 0
  std::optional<double> opt_positive(const std::string& key);
  double opt_nonneg(const std::string& key, double dflt);  // finite, >= 0
  long positive_int(const std::string& key);               // integer, > 0
  long opt_positive_int(const std::string& key, long dflt);
  long opt_nonneg_int(const std::string& key, long dflt);  // integer, >= 0
  bool opt_bool(const std::string& key, bool dflt);
  ObjectReader object(const std::string& key);
  const json& array(const std::string& key);

  void finish() const;  // throws on keys not read

 private:
  const json& get(const std::string& key);
  const json& j_;
  std::string file_;
  std::string path_;
  std::set<std::string> read_;
};

}  // namespace decodesim::io
