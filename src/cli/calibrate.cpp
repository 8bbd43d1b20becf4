#include <algorithm>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "decodesim/calibration.hpp"
#include "decodesim/gpu.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/plots.hpp"
#include "decodesim/sweep.hpp"
#include "decodesim/writers.hpp"

namespace decodesim::cli {

namespace {

Sample to_sample(const gpu::Measurement& x) {
  return {x.op_class, x.dtype, x.label, x.m, x.n, x.k, x.flops, x.bytes, x.time_us, x.rel_error};
}

// Fit, print the summary and write the calibrated file, its CSV and plot data: all or nothing.
void fit_and_write(Calibration& c, const CalibrateOptions& o, std::ostream& out) {
  const std::filesystem::path out_file = o.out_file;
  if (!out_file.has_filename()) throw InputError(fmt::format("--out: '{}': expected a file name", printable(o.out_file)));
  c.fits = fit_all(c.samples, c.copy_bytes_per_s, c.gemm_bf16_flops_per_s, c.gemm_fp8_flops_per_s, 4);
  // A file without fits is one no analysis can use (and the loader refuses).
  if (c.fits.empty())
    throw InputError(fmt::format("calibrate: no op class has the {} measurements a fit needs; nothing written", kMinFitSamples));
  const Table fits = calibration_fits_table(c);
  // What is written must load: checked by the loader itself before anything is written.
  const std::string text = calibration_json(c);
  try {
    parse_calibration(text, out_file.string());
  } catch (const InputError& e) {
    throw InputError(fmt::format("calibrate: the fitted file would not load back, nothing written: {}", e.what()));
  }
  std::vector<OutputFile> files{{out_file, text}};
  PlotSet plots;
  if (!o.csv_dir.empty()) {
    const std::filesystem::path csv = o.csv_dir;
    plots = calibration_plots(c);
    files.push_back({csv / "calibration_fits.csv", render_csv(fits)});
    files.push_back({csv / "calibration_samples.csv", render_csv(calibration_samples_table(c))});
    for (const OutputFile& f : plots.files) files.push_back({csv / f.path, f.content});
    // gnuplot then writes each figure's PNG and SVG beside its script (src/io/plots.cpp): --out may
    // not be one of them either, however spelt.
    std::error_code ec;
    const std::filesystem::path out_resolved = std::filesystem::weakly_canonical(std::filesystem::absolute(out_file, ec), ec);
    for (const std::string& script : plots.scripts)
      for (const char* extension : {".png", ".svg"}) {
        const std::filesystem::path image = csv / std::filesystem::path(script).replace_extension(extension);
        if (!ec && std::filesystem::weakly_canonical(std::filesystem::absolute(image, ec), ec) == out_resolved)
          throw InputError(fmt::format("{}: two outputs of this name (also the figure {})", printable(o.out_file, 256),
                                       printable(image.string(), 256)));
      }
  }
  write_files({}, files);
  out << "\n" << render_table(fits) << "wrote " << printable(o.out_file, 256) << "\n";
  if (!o.csv_dir.empty())
    if (const std::string note = render_plots(o.csv_dir, plots); !note.empty()) out << note << "\n";
}

}  // namespace

int calibrate_command(const CalibrateOptions& o, std::ostream& out, std::ostream& err) {
  if (!o.refit.empty() && (o.list || !o.only.empty()))
    throw InputError("calibrate: --refit refits measurements already taken; --list and --only choose a sweep's shapes");
  if (o.refit.empty() && !o.list && o.out_file.empty()) throw InputError("calibrate: --out is required (or --list)");
  if (!o.refit.empty()) {
    // Several runs on one chip refit as one: their measurements pooled, their ceilings averaged.
    Calibration c;
    const std::vector<std::string> files = split_list(o.refit);
    if (files.empty()) throw InputError("--refit: no calibration file given");
    int fp8_runs = 0;  // a run on a chip without FP8 (or its measurement) has no FP8 ceiling to average
    for (const std::string& f : files) {
      const Calibration run = load_calibration(f);
      if (run.samples.empty())
        throw InputError(fmt::format("{}: $.measurements: no measurements to refit (the file holds fits only)", printable(f, 256)));
      if (c.samples.size() + run.samples.size() > static_cast<size_t>(limits::kMaxMeasurements))
        throw InputError(fmt::format("--refit: expected at most {} measurements in all", limits::kMaxMeasurements));
      if (c.hardware_id.empty()) c.hardware_id = run.hardware_id, c.device = run.device;
      if (run.hardware_id != c.hardware_id)
        throw InputError(fmt::format("{}: $.hardware: calibration is for '{}', not '{}' like {}", printable(f, 256), run.hardware_id,
                                     c.hardware_id, printable(files.front(), 256)));
      c.copy_bytes_per_s += run.copy_bytes_per_s / files.size();
      c.gemm_bf16_flops_per_s += run.gemm_bf16_flops_per_s / files.size();
      c.gemm_fp8_flops_per_s += run.gemm_fp8_flops_per_s;
      fp8_runs += run.gemm_fp8_flops_per_s > 0;
      c.samples.insert(c.samples.end(), run.samples.begin(), run.samples.end());
    }
    if (fp8_runs > 0) c.gemm_fp8_flops_per_s /= fp8_runs;
    if (!o.hardware.empty() && o.hardware != c.hardware_id)
      throw InputError(fmt::format("{}: $.hardware: calibration is for '{}', not '{}'", printable(files.front(), 256), c.hardware_id,
                                   printable(o.hardware)));
    fit_and_write(c, o, out);
    return 0;
  }
  if (o.hardware.empty()) throw InputError("calibrate: --hardware is required (or --refit FILE)");
  const Hardware hw = load_hardware(o.hardware);
  const std::vector<Model> models = load_models(o.models);
  const std::vector<gpu::SweepPlan> shapes = one_shape_each(build_sweep_plan(models, o.quick, parse_sweep_families(o.only)));
  if (shapes.empty()) throw InputError(fmt::format("calibrate: --only '{}': the models have no shapes of it", printable(o.only, 64)));
  if (o.list) {
    // Predicted by the shipped calibration, carried to this chip as every analysis carries it.
    CalibrationSet shipped({shipped_calibration_path()});
    out << render_table(sweep_table(shapes, shipped.for_chip(hw)));
    return 0;
  }
  std::string why;
  if (!gpu::available(&why)) {
    err << "decodesim: calibrate needs a GPU: " << why << "\n";
    return 1;
  }
  const gpu::DeviceInfo dev = gpu::device_info();
  out << fmt::format("calibrating {} on {} ({} SMs, {:.0f} MB L2, {:.1f} GB)\n", hw.id, dev.name, dev.sm_count,
                     dev.l2_bytes / 1e6, dev.mem_bytes / 1e9)
      << std::flush;

  Calibration c;
  c.hardware_id = hw.id;
  c.device = dev.name;
  // The chip's two ceilings, measured: the starting point of every fit.
  auto ceiling = [&](const gpu::Measurement& m, const char* what, bool bandwidth, double datasheet) {
    c.samples.push_back(to_sample(m));
    const double rate = (bandwidth ? m.bytes : m.flops) / (m.time_us * 1e-6);
    const double scale = bandwidth ? 1e9 : 1e12;
    out << fmt::format("{}: {:.0f} {} (datasheet {:.0f})\n", what, rate / scale, bandwidth ? "GB/s" : "TFLOP/s",
                       datasheet / scale)
        << std::flush;
    return rate;
  };
  c.copy_bytes_per_s = ceiling(gpu::measure_copy(), "copy bandwidth", true, hw.mem_bytes_per_s);
  c.gemm_bf16_flops_per_s = ceiling(gpu::measure_peak_gemm(false), "bf16 GEMM", false, hw.bf16_flops_per_s.value_or(0));
  if (dev.cc_major * 10 + dev.cc_minor >= 89)
    c.gemm_fp8_flops_per_s = ceiling(gpu::measure_peak_gemm(true), "fp8 GEMM", false, hw.fp8_flops_per_s.value_or(0));

  const auto t0 = std::chrono::steady_clock::now();
  size_t done = 0;
  for (const gpu::SweepPlan& one : shapes) {
    const double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.max_seconds > 0 && elapsed_s > o.max_seconds) {
      out << fmt::format("time limit ({} s) reached: measured {} of {} shapes\n", o.max_seconds, done, shapes.size());
      break;
    }
    for (const gpu::Measurement& m : gpu::measure(one, [&](const std::string& line) {
           out << fmt::format("[{}/{}] {}\n", done + 1, shapes.size(), line) << std::flush;
         }))
      c.samples.push_back(to_sample(m));
    ++done;
  }
  for (const Sample& s : c.samples)
    if (s.rel_error > 0.1)
      throw std::runtime_error(fmt::format("kernel check failed: {} relative error {:.3g}", s.label, s.rel_error));
  fit_and_write(c, o, out);
  return 0;
}

}  // namespace decodesim::cli
