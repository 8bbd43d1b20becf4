#include "json_reader.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace decodesim::io {

json parse_json_file(const std::filesystem::path& p) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(p, ec)) throw InputError(fmt::format("{}: cannot read file (missing or not a regular file)", p.string()));
  std::ifstream in(p, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read file", p.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("{}: cannot read file", p.string()));
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    // nlohmann's message carries the line and column (or the number that overflowed).
    std::string msg = e.what();
    if (auto pos = msg.find("] "); pos != std::string::npos) msg = msg.substr(pos + 2);
    throw InputError(fmt::format("{}: $: malformed JSON: {}", p.string(), msg));
  }
}


std::string describe(const json& j) {
  std::string s = j.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

ObjectReader::ObjectReader(const json& j, std::string file, std::string path)
    : j_(j), file_(std::move(file)), path_(std::move(path)) {
  if (!j_.is_object()) throw InputError(fmt::format("{}: {}: expected an object, got {}", file_, path_, describe(j_)));
}

std::string ObjectReader::path_of(const std::string& key) const { return path_ + "." + key; }

void ObjectReader::fail(const std::string& key, const std::string& expected) const {
  throw InputError(fmt::format("{}: {}: {}", file_, path_of(key), expected));
}

void ObjectReader::fail_value(const std::string& key, const std::string& expected, const json& got) const {
  fail(key, fmt::format("expected {}, got {}", expected, describe(got)));
}

const json& ObjectReader::get(const std::string& key) {
  read_.insert(key);
  return j_.at(key);
}

const json& ObjectReader::raw(const std::string& key) {
  if (!has(key)) fail(key, "missing required key");
  return get(key);
}

std::string ObjectReader::string(const std::string& key) {
  const json& v = raw(key);
  if (!v.is_string() || v.get<std::string>().empty()) fail_value(key, "a non-empty string", v);
  return v.get<std::string>();
}

std::optional<std::string> ObjectReader::opt_string(const std::string& key) {
  if (!has(key)) return std::nullopt;
  return string(key);
}

double ObjectReader::positive(const std::string& key) {
  const json& v = raw(key);
  if (!v.is_number()) fail_value(key, "a positive number", v);
  const double d = v.get<double>();
  if (!std::isfinite(d) || d <= 0) fail_value(key, "a positive number", v);
  return d;
}

std::optional<double> ObjectReader::opt_positive(const std::string& key) {
  if (!has(key)) return std::nullopt;
  return positive(key);
}

double ObjectReader::opt_nonneg(const std::string& key, double dflt) {
  if (!has(key)) return dflt;
  const json& v = get(key);
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) fail_value(key, "a non-negative number", v);
  return v.get<double>();
}

long ObjectReader::positive_int(const std::string& key) {
  const json& v = raw(key);
  if (!v.is_number_integer() || v.get<long long>() <= 0) fail_value(key, "a positive integer", v);
  return static_cast<long>(v.get<long long>());
}

long ObjectReader::opt_positive_int(const std::string& key, long dflt) {
  return has(key) ? positive_int(key) : dflt;
}

long ObjectReader::opt_nonneg_int(const std::string& key, long dflt) {
  if (!has(key)) return dflt;
  const json& v = get(key);
  if (!v.is_number_integer() || v.get<long long>() < 0) fail_value(key, "a non-negative integer", v);
  return static_cast<long>(v.get<long long>());
}

bool ObjectReader::opt_bool(const std::string& key, bool dflt) {
  if (!has(key)) return dflt;
  const json& v = get(key);
  if (!v.is_boolean()) fail_value(key, "true or false", v);
  return v.get<bool>();
}

ObjectReader ObjectReader::object(const std::string& key) {
  const json& v = raw(key);
  if (!v.is_object()) fail_value(key, "an object", v);
  return ObjectReader(v, file_, path_of(key));
}

const json& ObjectReader::array(const std::string& key) {
  const json& v = raw(key);
  if (!v.is_array() || v.empty()) fail_value(key, "a non-empty array", v);
  return v;
}

void ObjectReader::finish() const {
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    const std::string& k = it.key();
    if (k.empty() || k[0] == '_' || read_.count(k)) continue;
    throw InputError(fmt::format("{}: {}: unknown key (a typo?)", file_, path_of(k)));
  }
}

}  // namespace decodesim::io
