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

// Writes every file to a temporary name first and renames only once all were written, so a
// failure leaves no partial result behind (nor the folders it made). Two files of one name are
// refused before anything is written. An empty `dir` takes each path as it is. Throws
// InputError naming the file on failure.
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
