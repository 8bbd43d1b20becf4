#include "decodesim/writers.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <tuple>

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

namespace {

std::string shown(const fs::path& p) { return printable(p.string(), 256); }

[[noreturn]] void cannot_write(const fs::path& p, const std::string& why) {
  throw InputError(fmt::format("{}: cannot write file: {}", shown(p), why));
}

// A name no other writer picks: O_EXCL refuses it if it exists, as a link or otherwise.
std::string fresh_suffix() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (std::uint64_t(::getpid()) << 32)};
  return fmt::format("{:012x}", rng() & 0xffffffffffffULL);
}

// One output: where it goes, with every folder resolved, and what became of it.
struct Target {
  const OutputFile* file = nullptr;
  fs::path asked;                 // as given, for messages
  fs::path folder;                // its folder, links resolved (weakly_canonical)
  std::string name;               // its last component
  std::vector<fs::path> missing;  // folders to make, outermost first
  bool existed = false;           // a file (or a link) of its name is there already
  fs::path temporary, backup;     // staged content; the old file's second name while renaming
};

// Resolves the folder and identifies the output by the device and inode of its nearest existing
// folder and the path below it: two spellings of one file (`./D/x`, `D/../D/x`, an absolute
// path, a linked folder) get one identity.
std::tuple<dev_t, ino_t, std::string> resolve(Target& t) {
  const fs::path dst = t.asked;
  t.name = dst.filename().string();
  if (t.name.empty() || t.name == "." || t.name == "..") cannot_write(dst, "expected a file name");
  std::error_code ec;
  const fs::path parent = fs::absolute(dst, ec).parent_path();
  if (!ec) t.folder = fs::weakly_canonical(parent, ec);
  if (ec) cannot_write(dst, ec.message());
  fs::path existing = t.folder, below;
  struct stat st {};
  while (::lstat(existing.c_str(), &st) != 0) {
    // ENOTDIR: a file stands where a folder should; it is found and named one level up.
    if ((errno != ENOENT && errno != ENOTDIR) || existing == existing.root_path()) cannot_write(dst, std::strerror(errno));
    t.missing.insert(t.missing.begin(), existing);
    below = existing.filename() / below;
    existing = existing.parent_path();
  }
  if (!S_ISDIR(st.st_mode)) cannot_write(dst, fmt::format("cannot create folder {}: a file is in the way", shown(existing)));
  return {st.st_dev, st.st_ino, (below / t.name).string()};
}

// The mode a file made with 0666 would get: outputs end as readable as any other file of the
// user's, while their temporaries stay private (0600) until they are complete.
mode_t output_mode() {
  const mode_t mask = ::umask(0);  // read it: umask() only sets, and returns the old value
  ::umask(mask);
  return static_cast<mode_t>(0666 & ~mask);
}

void write_all(int fd, const std::string& text, const fs::path& dst) {
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) cannot_write(dst, std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

}  // namespace

void write_files(const fs::path& dir, const std::vector<OutputFile>& files) {
  std::vector<Target> targets(files.size());
  std::map<std::tuple<dev_t, ino_t, std::string>, size_t> seen;
  for (size_t i = 0; i < files.size(); ++i) {
    Target& t = targets[i];
    t.file = &files[i];
    t.asked = dir.empty() ? files[i].path : dir / files[i].path;
    const auto [it, fresh] = seen.emplace(resolve(t), i);
    // Two outputs of one file would overwrite each other: refused before anything is written.
    if (!fresh)
      throw InputError(fmt::format("{}: two outputs of this name (also {})", shown(t.asked), shown(targets[it->second].asked)));
  }
  // Every final name is checked before anything is made: a folder or a device in the way of the
  // last file fails the run while nothing has changed yet. A link in the way is replaced, never
  // followed: the rename puts the file in its place.
  for (Target& t : targets) {
    struct stat st {};
    const fs::path dst = t.folder / t.name;
    if (::lstat(dst.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) cannot_write(t.asked, "a folder of this name is in the way");
      if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) cannot_write(t.asked, "something other than a file is in the way");
      t.existed = true;
    } else if (errno != ENOENT && t.missing.empty()) {
      cannot_write(t.asked, std::strerror(errno));
    }
  }

  std::vector<fs::path> created;  // folders made here, outermost first
  size_t renamed = 0;
  auto undo = [&] {
    // Back to what was there: the files renamed into place removed or given their old content,
    // then every temporary, and the folders made here (only if empty).
    for (size_t i = 0; i < renamed; ++i) {
      const Target& t = targets[i];
      const fs::path dst = t.folder / t.name;
      if (!t.backup.empty()) ::rename(t.backup.c_str(), dst.c_str());
      else ::unlink(dst.c_str());
    }
    for (const Target& t : targets) {
      if (!t.temporary.empty()) ::unlink(t.temporary.c_str());
      if (!t.backup.empty()) ::unlink(t.backup.c_str());
    }
    for (auto it = created.rbegin(); it != created.rend(); ++it) ::rmdir(it->c_str());
  };
  try {
    for (Target& t : targets) {
      for (const fs::path& folder : t.missing) {
        if (::mkdir(folder.c_str(), 0777) == 0) {
          created.push_back(folder);
          continue;
        }
        struct stat st {};
        // Made for an earlier output; anything else (a link put there since) is not written through.
        if (errno != EEXIST || ::lstat(folder.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
          cannot_write(t.asked, fmt::format("cannot create folder {}: {}", shown(folder), std::strerror(errno)));
      }
      // A fresh private name beside the result: never one that exists, never through a link.
      const std::string stem = t.name.substr(0, 200);  // room for the suffix within NAME_MAX
      int fd = -1;
      for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
        t.temporary = t.folder / fmt::format(".{}.{}.partial", stem, fresh_suffix());
        fd = ::open(t.temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST) {
          const int err = errno;
          t.temporary.clear();
          cannot_write(t.asked, std::strerror(err));
        }
      }
      if (fd < 0) {
        t.temporary.clear();
        cannot_write(t.asked, "no free temporary name");
      }
      try {
        write_all(fd, t.file->content, t.asked);
        if (::fchmod(fd, output_mode()) != 0) cannot_write(t.asked, std::strerror(errno));
      } catch (...) {
        ::close(fd);
        throw;
      }
      if (::close(fd) != 0) cannot_write(t.asked, std::strerror(errno));
    }
    // The old files keep a second name until every new one is in place, so that a failed rename
    // can put them back.
    for (Target& t : targets) {
      if (!t.existed) continue;
      const fs::path dst = t.folder / t.name, backup = t.folder / fmt::format(".{}.{}.old", t.name.substr(0, 200), fresh_suffix());
      if (::link(dst.c_str(), backup.c_str()) == 0) t.backup = backup;
    }
    for (Target& t : targets) {
      const fs::path dst = t.folder / t.name;
      if (::rename(t.temporary.c_str(), dst.c_str()) != 0) cannot_write(t.asked, std::strerror(errno));
      t.temporary.clear();
      ++renamed;
    }
  } catch (...) {
    undo();
    throw;
  }
  for (const Target& t : targets)
    if (!t.backup.empty()) ::unlink(t.backup.c_str());
}

}  // namespace decodesim
