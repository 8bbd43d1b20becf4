// Figures: human units on the axes, ranges that end at the data, labels that do not collide.
#include "helpers.hpp"

#include <map>
#include <regex>
#include <set>

#include "decodesim/plots.hpp"
#include "io/plot_layout.hpp"

using namespace decodesim;

namespace {

bool overlap(const plot::PlacedLabel& a, const plot::PlacedLabel& b) {
  return a.box_px.x0 < b.box_px.x1 && b.box_px.x0 < a.box_px.x1 && a.box_px.y0 < b.box_px.y1 && b.box_px.y0 < a.box_px.y1;
}

const std::string& file_named(const PlotSet& set, const std::string& name) {
  for (const OutputFile& f : set.files)
    if (f.path == name) return f.content;
  FAIL("no " << name);
  static const std::string none;
  return none;
}

}  // namespace

TEST_CASE("numbers are written in the units people read", "[plots]") {
  CHECK(plot::count(2.2e10) == "22B");
  CHECK(plot::count(3.88403e10) == "38.8B");
  CHECK(plot::count(1.5e6) == "1.5M");
  CHECK(plot::bytes(2.56e8) == "256 MB");
  CHECK(plot::bytes(1e9) == "1 GB");
  CHECK(plot::bytes(512) == "512 B");
  CHECK(plot::tokens(8192) == "8K");
  CHECK(plot::tokens(32768) == "32K");
  CHECK(plot::tokens(1048576) == "1M");
  CHECK(plot::tokens(1000) == "1000");
  CHECK(plot::usd(0.055) == "$0.055");
  CHECK(plot::usd(0.0618359) == "$0.0618");
  CHECK(plot::usd(0.1) == "$0.1");
  CHECK(plot::usd(5) == "$5");
  CHECK(plot::usd(0) == "$0");
  CHECK(plot::flop(3.3e10) == "33 GFLOP");
  CHECK(plot::flop_per_s(9.89e14) == "989 TFLOP/s");
  CHECK(plot::micros(7) == "7 us");
  CHECK(plot::micros(1500) == "1.5 ms");
  CHECK(plot::number(1234567) == "1230000");
  CHECK(plot::number(0.000123456, 2) == "0.00012");
}

TEST_CASE("axes end at the data and their ticks are round, distinct and inside the range", "[plots]") {
  auto check = [](const plot::Axis& a, double lo, double hi, double slack) {
    CHECK(a.lo < lo);
    CHECK(a.hi > hi);
    CHECK(a.lo >= (a.log ? lo / slack : lo - (slack - 1) * (hi - lo)));
    CHECK(a.hi <= (a.log ? hi * slack : hi + (slack - 1) * (hi - lo)));
    CHECK(a.ticks.size() >= 2);
    std::set<std::string> labels;
    for (const plot::Tick& t : a.ticks) {
      CHECK(t.value >= a.lo);
      CHECK(t.value <= a.hi);
      labels.insert(t.label);
    }
    CHECK(labels.size() == a.ticks.size());
  };
  const plot::Axis params = plot::linear_axis(16.5e9, 48.4e9, plot::count, false, 9, 0.08);
  check(params, 16.5e9, 48.4e9, 1.1);
  CHECK(params.ticks.front().label == "15B");
  CHECK(params.ticks.back().label == "50B");
  const plot::Axis cost = plot::linear_axis(0, 0.164, plot::usd, true, 9, 0.04);
  CHECK(cost.lo == 0);
  CHECK(cost.hi <= 0.164 * 1.05);
  CHECK(cost.ticks[1].label == "$0.05");

  const plot::Axis ctx = plot::power_of_two_axis(4096, 1048576, plot::tokens, 9, 1.15);
  check(ctx, 4096, 1048576, 1.2);
  std::vector<std::string> ctx_labels;
  for (const plot::Tick& t : ctx.ticks) ctx_labels.push_back(t.label);
  CHECK(ctx_labels == std::vector<std::string>{"4K", "8K", "16K", "32K", "64K", "128K", "256K", "512K", "1M"});

  const plot::Axis kv = plot::log_axis(1.28e8, 1.0e11, plot::bytes, 8, 1.15);
  check(kv, 1.28e8, 1.0e11, 1.2);
  CHECK(kv.ticks.size() <= 8);
  CHECK(kv.ticks.back().label == "100 GB");
  const plot::Axis narrow = plot::log_axis(0.04, 0.07, plot::usd, 8, 1.1);  // less than a decade
  check(narrow, 0.04, 0.07, 1.15);
  CHECK(narrow.ticks.size() >= 3);
  const plot::Axis one_value = plot::log_axis(5, 5, plot::plain);
  CHECK(one_value.lo < 5);
  CHECK(one_value.hi > 5);
  for (const plot::Axis& empty : {plot::log_axis(INFINITY, -INFINITY, plot::plain), plot::linear_axis(INFINITY, -INFINITY, plot::plain),
                                  plot::log_axis(-3, 0, plot::plain), plot::power_of_two_axis(NAN, NAN, plot::tokens)}) {
    CHECK(std::isfinite(empty.lo));
    CHECK(std::isfinite(empty.hi));
    CHECK(empty.hi > empty.lo);
    CHECK(empty.ticks.size() <= 10);
  }

  // Fitting to a short axis drops ticks until their labels no longer run into each other.
  const auto make = [](int n) { return plot::log_axis(5, 6000, plot::micros, n, 1.2); };
  const plot::Axis wide = plot::fitted(make, 1000, true), short_axis = plot::fitted(make, 250, true);
  CHECK(short_axis.ticks.size() < wide.ticks.size());
  for (size_t i = 1; i < short_axis.ticks.size(); ++i)
    CHECK((short_axis.fraction(short_axis.ticks[i].value) - short_axis.fraction(short_axis.ticks[i - 1].value)) * 250 >=
          plot::kCharPx * static_cast<double>(short_axis.ticks[i].label.size() + short_axis.ticks[i - 1].label.size()) / 2);
}

TEST_CASE("Fig. 1 of the default scenario: all nine models, labels apart from each other and inside the plot", "[plots]") {
  const Scenario s = load_scenario("report-comparison");
  REQUIRE(s.pareto_models.size() == 9);
  const PlotSet set = report_plots(s);
  const std::string& data = file_named(set, "fig1-pareto.dat");
  for (const Model& m : s.pareto_models) CHECK(data.find("\"" + m.id + "\"") != std::string::npos);
  const std::string& gp = file_named(set, "fig1-pareto.gp");
  CHECK(gp.find("'20B'") != std::string::npos);
  CHECK(gp.find("'$0.06'") != std::string::npos);

  // Read the script back (its PNG half): plot area, ranges, labels; the points from the data.
  const std::string png = gp.substr(0, gp.find("set terminal svg"));
  std::map<std::string, double> margin;
  for (const char* side : {"l", "r", "b", "t"}) {
    std::smatch m;
    REQUIRE(std::regex_search(png, m, std::regex(std::string("set ") + side + "margin at screen ([0-9.]+)")));
    margin[side] = std::stod(m[1]);
  }
  std::smatch xr, yr;
  REQUIRE(std::regex_search(png, xr, std::regex("set xrange \\[([-0-9.e+]+):([-0-9.e+]+)\\]")));
  REQUIRE(std::regex_search(png, yr, std::regex("set yrange \\[([-0-9.e+]+):([-0-9.e+]+)\\]")));
  auto px = [&](double v) { return (margin["l"] + (v - std::stod(xr[1])) / (std::stod(xr[2]) - std::stod(xr[1])) * (margin["r"] - margin["l"])) * 1100; };
  auto py = [&](double v) { return (margin["b"] + (v - std::stod(yr[1])) / (std::stod(yr[2]) - std::stod(yr[1])) * (margin["t"] - margin["b"])) * 700; };
  std::vector<std::pair<double, double>> markers;
  const std::regex row("\"([^\"]+)\" ([0-9.e+]+) ([0-9.e+]+)");
  const std::string points = data.substr(0, data.find("\n\n\n"));
  for (std::sregex_iterator it(points.begin(), points.end(), row), end; it != end; ++it)
    markers.push_back({px(std::stod((*it)[2])), py(std::stod((*it)[3]))});
  REQUIRE(markers.size() == 9);
  struct Box { std::string text; double x0, y0, x1, y1; };
  std::vector<Box> boxes;
  const std::regex label("set label \\d+ '([^']+)' at screen ([0-9.]+), screen ([0-9.]+) (left|right|center)");
  for (std::sregex_iterator it(png.begin(), png.end(), label), end; it != end; ++it) {
    const double w = plot::kCharPx * (*it)[1].length(), x = std::stod((*it)[2]) * 1100, y = std::stod((*it)[3]) * 700;
    const double x0 = (*it)[4] == "left" ? x : (*it)[4] == "right" ? x - w : x - w / 2;
    boxes.push_back({(*it)[1], x0, y - plot::kLinePx / 2, x0 + w, y + plot::kLinePx / 2});
  }
  REQUIRE(boxes.size() == 9);
  for (size_t i = 0; i < boxes.size(); ++i) {
    INFO(boxes[i].text);
    CHECK(boxes[i].x0 >= margin["l"] * 1100);
    CHECK(boxes[i].x1 <= margin["r"] * 1100);
    CHECK(boxes[i].y0 >= margin["b"] * 700);
    CHECK(boxes[i].y1 <= margin["t"] * 700);
    for (size_t j = i + 1; j < boxes.size(); ++j)
      CHECK_FALSE((boxes[i].x0 < boxes[j].x1 && boxes[j].x0 < boxes[i].x1 && boxes[i].y0 < boxes[j].y1 && boxes[j].y0 < boxes[i].y1));
    for (const auto& [mx, my] : markers)
      CHECK_FALSE((mx + 7 > boxes[i].x0 && mx - 7 < boxes[i].x1 && my + 7 > boxes[i].y0 && my - 7 < boxes[i].y1));
  }
}

TEST_CASE("coincident points get labels on different sides, with a leader line where it could be misread", "[plots]") {
  const std::vector<plot::Point> points{{1.0, 1.0}, {1.02, 1.0}, {1.04, 1.01}, {5, 5}};
  const std::vector<std::string> texts{"first-model", "second-model", "third-model", "far"};
  const plot::Axis x = plot::linear_axis(1, 5, plot::plain), y = plot::linear_axis(1, 5, plot::plain);
  const plot::Frame frame{1100, 700, 0.1, 0.97, 0.11, 0.84};
  const auto placed = plot::place_labels(points, texts, x, y, frame);
  for (size_t i = 0; i < placed.size(); ++i)
    for (size_t j = i + 1; j < placed.size(); ++j) CHECK_FALSE(overlap(placed[i], placed[j]));
  CHECK_FALSE(placed[3].leader);
  const std::string gp = plot::gnuplot_labels(points, texts, placed);
  CHECK(gp.find("set label 4 'far' at screen") != std::string::npos);
  for (size_t i = 0; i < placed.size(); ++i)
    CHECK((gp.find("set arrow " + std::to_string(i + 1) + " ") != std::string::npos) == placed[i].leader);
}

TEST_CASE("every figure script of every scenario, and of calibrations with or without fits, holds finite numbers", "[plots]") {
  std::vector<PlotSet> sets;
  for (const std::string& id : known_ids("scenarios")) sets.push_back(report_plots(load_scenario(id)));
  Calibration c = test::calibration_for("h100", "test device", 3e12, 8e14, 1.4e15);
  sets.push_back(calibration_plots(c));  // no measurements at all
  c.samples.push_back({"gemm", "bf16", "g", 64, 7168, 2048, 2 * 64 * 7168 * 2048.0, 7168 * 2048.0, 12.5, -1});
  sets.push_back(calibration_plots(c));  // measured, not fitted
  for (const PlotSet& set : sets)
    for (const OutputFile& f : set.files) {
      INFO(f.path);
      CHECK_FALSE(std::regex_search(f.content, std::regex("\\b(-?nan|-?inf)\\b", std::regex::icase)));
    }
}

namespace {

// What gnuplot would run of a script besides its own commands: the `...` it would hand to a shell
// (outside single quotes, where gnuplot expands them) and any `system(` outside a string. Lexes
// as gnuplot does: '' is a single-quoted string's only escape, a backslash a double-quoted one's.
std::vector<std::string> expansions(const std::string& gp) {
  std::vector<std::string> found;
  enum { code, single, dbl } state = code;
  for (size_t i = 0; i < gp.size(); ++i) {
    const char c = gp[i];
    if (state == single) {
      if (c == '\'' && i + 1 < gp.size() && gp[i + 1] == '\'') ++i;
      else if (c == '\'') state = code;
      else if (c == '\n') found.push_back("line break inside a string");
    } else if (state == dbl) {
      if (c == '\\') ++i;
      else if (c == '"') state = code;
      else if (c == '`') found.push_back("backquote inside a double-quoted string");
      else if (c == '\n') found.push_back("line break inside a string");
    } else if (c == '\'') {
      state = single;
    } else if (c == '"') {
      state = dbl;
    } else if (c == '`') {
      found.push_back("backquote in a command");
    } else if (c == '#') {
      while (i < gp.size() && gp[i] != '\n') ++i;  // a comment runs to the end of its line
    } else if (gp.compare(i, 7, "system(") == 0) {
      found.push_back("system( in a command");
    }
  }
  return found;
}

}  // namespace

TEST_CASE("text from data files reaches every figure as text: gnuplot runs nothing of it", "[plots][hostile]") {
  const test::TempDir dir;
  const std::string mark = (dir.path / "ran").string();  // every payload would create it
  const std::vector<std::string> payloads{
      "a`touch " + mark + "`",
      "b\" . system(\"touch " + mark + "\") . \"",
      "c'; system('touch " + mark + "'); print '",
      "d\nset output '" + mark + "'\nprint 'x",
      "e\\' `touch " + mark + "` ''",
      "f@mark `echo ok`"};
  size_t next = 0;
  auto hostile = [&](const std::string& plain) { return payloads[next++ % payloads.size()] + plain; };

  Scenario s = load_scenario("report-comparison");
  for (Model& m : s.models) m.id = hostile(m.id);
  for (Model& m : s.pareto_models) m.id = hostile(m.id);
  for (Hardware& h : s.hardware) h.id = hostile(h.id);
  std::vector<PlotSet> sets{report_plots(s)};
  Calibration c = test::calibration_for(hostile("h100"), hostile("device"), 3e12, 8e14, 1.4e15);
  for (const std::string& p : payloads)
    c.samples.push_back({"gemm" + p, "bf16", p, 64, 7168, 2048, 2 * 64 * 7168 * 2048.0, 7168 * 2048.0, 12.5, -1});
  sets.push_back(calibration_plots(c));
  std::vector<ServedCheck> checks;
  for (const std::string& p : payloads) checks.push_back({{"EP4" + p, "step3" + p, 4, 4096, 64, 2, 4, "fp8", 10.0}, 11.0});
  sets.push_back(validation_plots(checks));

  PlotSet all;
  for (const PlotSet& set : sets) {
    for (const OutputFile& f : set.files) {
      INFO(f.path);
      if (f.path.string().ends_with(".gp")) CHECK(expansions(f.content).empty());
      // Every script sets its outputs twice (PNG, SVG), on lines of its own; no data line starts a command.
      size_t outputs = 0;
      for (size_t at = 0; (at = f.content.find("\nset output", at)) != std::string::npos; ++at) ++outputs;
      CHECK(outputs == (f.path.string().ends_with(".gp") ? 2u : 0u));
      std::ofstream(dir.path / f.path) << f.content;
    }
    all.files.insert(all.files.end(), set.files.begin(), set.files.end());
    all.scripts.insert(all.scripts.end(), set.scripts.begin(), set.scripts.end());
  }
  // With gnuplot on the PATH, render every figure: not one payload may run.
  render_plots(dir.path.string(), all);
  CHECK_FALSE(std::filesystem::exists(mark));
}
