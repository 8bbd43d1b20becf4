// Turning tables into text, and text into files without ever leaving half of them.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "decodesim/scenario.hpp"
#include "decodesim/table.hpp"

namespace decodesim {

std::string render_table(const Table& t);  // aligned, units in the header
std::string render_csv(const Table& t);
std::string render_json(const Table& t);
std::string render(const Table& t, Format f);
const char* format_extension(Format f);
// "table", "csv" or "json"; empty for anything else.
std::optional<Format> format_named(const std::string& name);

struct OutputFile {
  std::filesystem::path path;  // relative to the output folder
  std::string content;
};

// All or nothing, and only where asked: every output is checked first (two names for one file,
// however spelt, by the identity of its resolved folder; a folder or a device where a file is to
// go; a path through something that is not a folder), then written to a fresh private temporary
// beside it (O_CREAT|O_EXCL|O_NOFOLLOW: a link planted there is never written through), and
// renamed into place only once all were written. A link at a final name is replaced, not
// followed. A failure leaves the outputs as they were and removes the temporaries and the
// folders it made. An empty `dir` takes each path as it is. Throws InputError naming the file.
void write_files(const std::filesystem::path& dir, const std::vector<OutputFile>& files);

}  // namespace decodesim

#include "decodesim/calibration.hpp"

namespace decodesim {
std::string calibration_json(const Calibration& c);
// Measurements with the fitted prediction beside each, one row per sample.
Table calibration_samples_table(const Calibration& c);
Table calibration_fits_table(const Calibration& c);
// How carried calibrations got their rates: per chip and fit, the datasheet fractions and where a
// side never exercised on the measured chip borrowed its fraction. Calibrations not carried add no rows.
Table calibration_carry_table(const std::vector<const Calibration*>& calibrations);
}  // namespace decodesim
