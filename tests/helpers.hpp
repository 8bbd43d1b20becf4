#pragma once
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "decodesim/loader.hpp"

namespace test {

inline std::filesystem::path source_dir() { return DECODESIM_SOURCE_DIR; }

inline nlohmann::json paper_values() {
  std::ifstream in(source_dir() / "tests/golden/paper-values.json");
  return nlohmann::json::parse(in);
}

// The report prints three significant digits; "within 1%" is judged against the printed value.
inline Approx within_1pct(double v) { return Approx(v).epsilon(0.01); }

// A scratch folder per test, removed at the end.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("decodesim-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::filesystem::path p = path / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p;
  }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

// A calibration with its measured ceilings set and no fits or samples yet.
inline decodesim::Calibration calibration_for(const std::string& hardware_id, const std::string& device,
                                              double copy_bytes_per_s, double bf16_flops_per_s, double fp8_flops_per_s) {
  decodesim::Calibration c;
  c.hardware_id = hardware_id;
  c.device = device;
  c.copy_bytes_per_s = copy_bytes_per_s;
  c.gemm_bf16_flops_per_s = bf16_flops_per_s;
  c.gemm_fp8_flops_per_s = fp8_flops_per_s;
  return c;
}

// `text` with the first `from` replaced by `to`; `from` must occur.
inline std::string replace(std::string text, const std::string& from, const std::string& to) {
  const size_t pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

#ifdef DECODESIM_BINARY
// End-to-end: the built binary with these arguments (run from cwd when given): exit code, stdout, stderr.
struct Result {
  int code = -1;
  std::string out, err;
};

// `env`: variables for the command, e.g. "DECODESIM_CUDA_LIBRARY=/x.so".
inline Result run(const std::string& args, const std::string& cwd = "", const std::string& env = "") {
  TempDir d;
  const std::string cmd = (cwd.empty() ? "" : "cd '" + cwd + "' && ") + (env.empty() ? "" : "env " + env + " ") +
                          std::string("'") + DECODESIM_BINARY + "' " + args +
                          " >'" + (d.path / "out").string() + "' 2>'" + (d.path / "err").string() + "'";
  const int status = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(d.path / "out");
  r.err = read_file(d.path / "err");
  return r;
}
#endif

inline size_t lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

// Column `name` of every data row of the first CSV table that has it (RFC 4180 fields).
inline std::vector<std::string> csv_column(const std::string& csv, const std::string& name) {
  std::istringstream in(csv);
  std::string line;
  std::vector<std::string> out;
  int at = -1;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      if (!out.empty()) break;  // the first table holding the column
      at = -1;
      continue;
    }
    // RFC 4180 fields: a quoted one may hold commas, and "" is a quote.
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') cells.back() += '"', ++i;
      else if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) cells.emplace_back();
      else cells.back() += c;
    }
    if (at < 0) {
      for (size_t i = 0; i < cells.size(); ++i)
        if (cells[i] == name) at = int(i);
      if (at < 0) at = -2;  // not this table
      continue;
    }
    if (at >= 0 && at < int(cells.size())) out.push_back(cells[at]);
  }
  return out;
}


}  // namespace test
