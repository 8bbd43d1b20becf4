#include "decodesim/writers.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "decodesim/errors.hpp"

namespace decodesim {

namespace fs = std::filesystem;

namespace {

std::string cell_text(const Cell& c, bool precise) {
  if (const auto* s = std::get_if<std::string>(&c)) return *s;
  const double v = std::get<double>(c);
  // CSV keeps integers whole; the aligned table keeps columns narrow. The range test comes
  // first: only then does the value fit a long long.
  if (std::abs(v) < (precise ? 1e15 : 1e7) && v == std::floor(v)) return fmt::format("{}", static_cast<long long>(v));
  return precise ? fmt::format("{:.6g}", v) : fmt::format("{:.4g}", v);
}

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::string render_table(const Table& t) {
  std::vector<std::string> header;
  for (const Column& c : t.columns) header.push_back(c.unit.empty() ? c.name : fmt::format("{} [{}]", c.name, c.unit));
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : t.rows) {
    cells.emplace_back();
    for (size_t i = 0; i < row.size(); ++i) {
      cells.back().push_back(cell_text(row[i], false));
      width[i] = std::max(width[i], cells.back().back().size());
    }
  }
  std::string out;
  if (!t.title.empty()) out += t.title + "\n";
  auto line = [&](const std::vector<std::string>& v, const std::vector<Cell>* row) {
    for (size_t i = 0; i < v.size(); ++i) {
      const bool numeric = row && std::holds_alternative<double>((*row)[i]);
      out += numeric ? fmt::format("{:>{}}", v[i], width[i]) : fmt::format("{:<{}}", v[i], width[i]);
      out += i + 1 < v.size() ? "  " : "";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
  };
  line(header, nullptr);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  line(rule, nullptr);
  for (size_t r = 0; r < cells.size(); ++r) line(cells[r], &t.rows[r]);
  for (const std::string& n : t.notes) out += "  " + n + "\n";
  return out;
}

std::string render_csv(const Table& t) {
  std::string out;
  auto line = [&](auto&& text_of) {
    bool first = true;
    for (size_t i = 0; i < t.columns.size(); ++i) {
      if (!t.columns[i].in_csv) continue;
      if (!first) out += ',';
      out += text_of(i);
      first = false;
    }
    out += "\n";
  };
  line([&](size_t i) { return t.columns[i].name; });
  for (const auto& row : t.rows) line([&](size_t i) { return csv_escape(cell_text(row[i], true)); });
  return out;
}

std::string render_json(const Table& t) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& row : t.rows) {
    nlohmann::ordered_json o;
    for (size_t i = 0; i < row.size(); ++i) {
      if (const auto* s = std::get_if<std::string>(&row[i])) o[t.columns[i].name] = *s;
      else o[t.columns[i].name] = std::get<double>(row[i]);
    }
    rows.push_back(std::move(o));
  }
  nlohmann::ordered_json doc;
  doc["analysis"] = t.name;
  doc["rows"] = std::move(rows);
  return doc.dump(2) + "\n";
}

std::string render(const Table& t, Format f) {
  switch (f) {
    case Format::table: return render_table(t);
    case Format::csv: return render_csv(t);
    case Format::json: return render_json(t);
  }
  return {};
}

std::optional<Format> format_named(const std::string& name) {
  for (Format f : {Format::table, Format::csv, Format::json})
    if (name == (f == Format::table ? "table" : format_extension(f))) return f;
  return std::nullopt;
}

const char* format_extension(Format f) {
  switch (f) {
    case Format::table: return "txt";
    case Format::csv: return "csv";
    case Format::json: return "json";
  }
  return "txt";
}

void write_files(const fs::path& dir, const std::vector<OutputFile>& files) {
  // Two outputs of one name would overwrite each other: refused before anything is written.
  std::vector<fs::path> names;
  for (const OutputFile& f : files) names.push_back((dir / f.path).lexically_normal());
  std::sort(names.begin(), names.end());
  if (const auto dup = std::adjacent_find(names.begin(), names.end()); dup != names.end())
    throw InputError(fmt::format("{}: two outputs of this name", printable(dup->string(), 256)));

  std::vector<std::pair<fs::path, fs::path>> staged;  // temporary -> final
  std::vector<fs::path> created;                      // folders made here, deepest last
  auto discard = [&] {
    std::error_code ec;
    for (const auto& [tmp, dst] : staged) fs::remove(tmp, ec);
    for (auto it = created.rbegin(); it != created.rend(); ++it) fs::remove(*it, ec);  // only if still empty
  };
  try {
    for (const OutputFile& f : files) {
      const fs::path dst = dir / f.path;
      const fs::path parent = dst.parent_path().empty() ? fs::path(".") : dst.parent_path();
      std::error_code ec;
      std::vector<fs::path> missing;
      for (fs::path p = parent; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
        missing.push_back(p);
        if (p == p.parent_path()) break;
      }
      fs::create_directories(parent, ec);
      created.insert(created.end(), missing.rbegin(), missing.rend());
      if (ec) throw InputError(fmt::format("{}: cannot create folder: {}", printable(parent.string(), 256), ec.message()));
      const fs::path tmp = dst.string() + ".partial";
      staged.emplace_back(tmp, dst);
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << f.content;
      out.close();
      if (!out) throw InputError(fmt::format("{}: cannot write file", printable(dst.string(), 256)));
    }
    for (const auto& [tmp, dst] : staged) {
      std::error_code ec;
      fs::rename(tmp, dst, ec);
      if (ec) throw InputError(fmt::format("{}: cannot write file: {}", printable(dst.string(), 256), ec.message()));
    }
  } catch (...) {
    discard();
    throw;
  }
}

}  // namespace decodesim
