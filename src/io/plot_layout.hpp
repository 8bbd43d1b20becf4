// Layout of the gnuplot figures: axes in human units that end at the data, and labels placed
// where they overlap neither each other, nor the points, nor the lines.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace decodesim::plot {

// What text and markers take on the layout canvas (1100 x 700 px, 'sans,11'). Measured on pngcairo
// output at that size: lower-case ids average 8.7 px per character, a line is 14 px high, a
// `pt 7 ps 1.5` marker 12 px across. The PNG draws the canvas at 0.7 scale with text and markers at
// 0.8 (src/io/plots.cpp), so they take 8/7 of that; rounded up.
inline constexpr double kCharPx = 10.3, kLinePx = 17, kMarkerPx = 8;  // kMarkerPx: half the side

// Numbers as people read them: at most `significant` digits, no trailing zeros, SI prefixes.
std::string number(double v, int significant = 3);
std::string count(double v);   // parameters: 2.2e10 -> "22B", 1.5e6 -> "1.5M"
std::string bytes(double v);   // decimal: 2.56e8 -> "256 MB"
std::string flop(double v);    // 3.3e10 -> "33 GFLOP"
std::string flop_per_s(double v);  // 9.9e14 -> "990 TFLOP/s"
std::string tokens(double v);  // powers of 1024, as contexts are named: 8192 -> "8K", 1048576 -> "1M"
std::string usd(double v);     // 0.055 -> "$0.055"
std::string micros(double us); // 7 -> "7 us", 1500 -> "1.5 ms"
std::string plain(double v);   // number(v)

using Labeler = std::string (*)(double);

struct Tick {
  double value;
  std::string label;
};

struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<Tick> ticks;
  // 0..1 along the axis (log axes in log space).
  double fraction(double v) const;
  // gnuplot commands for axis "x", "y", "x2"...: range, scale and labelled ticks.
  std::string gnuplot(const std::string& name) const;
};

// [lo, hi] with a margin of `pad` of the span each side (lo stays 0 when `from_zero`), ticks at
// 1, 2 or 5 times a power of ten, at most `max_ticks`.
Axis linear_axis(double lo, double hi, Labeler label, bool from_zero = false, int max_ticks = 8, double pad = 0.06);
// Log scale: [lo, hi] widened by `pad` (a factor), ticks at 1-2-5, 1-3 or (every n-th) whole
// decades, the densest of these with at most `max_ticks`.
Axis log_axis(double lo, double hi, Labeler label, int max_ticks = 8, double pad = 1.25);
// Log base 2 for contexts: ticks at powers of two (every second or fourth when crowded).
Axis power_of_two_axis(double lo, double hi, Labeler label, int max_ticks = 9, double pad = 1.2);

// The densest axis `make(max_ticks)` gives, for max_ticks from `most` down, whose tick labels do not
// run into each other along `length_px` (horizontal: label widths; vertical: a line each).
Axis fitted(const std::function<Axis(int max_ticks)>& make, double length_px, bool horizontal, int most = 10);
// The widest tick label, in pixels.
double widest_label_px(const Axis& a);

// A plot area on a canvas: size in pixels, the area's edges as screen fractions (gnuplot margins).
struct Frame {
  double width_px = 0, height_px = 0;
  double left = 0, right = 1, bottom = 0, top = 1;
  std::string margins() const;  // "set lmargin at screen ..." for all four
};

struct Point {
  double x = 0, y = 0;  // data coordinates
};

// A label beside its point: its anchor in screen fractions, its alignment, and whether it sits
// far away, or near enough another marker, to need a leader line back to its point.
struct PlacedLabel {
  double x = 0, y = 0;
  std::string align;  // "left", "right" or "center"
  bool leader = false;
  double to_x = 0, to_y = 0;  // where the leader line meets the label
  struct {
    double x0, y0, x1, y1;
  } box_px{};  // the text's estimated extent on the canvas, y up
};

// Where a data point lands on the canvas, in pixels (y up).
std::pair<double, double> to_pixels(const Point& p, const Axis& x, const Axis& y, const Frame& frame);

// Greedy placement, most crowded points first: the first of the positions around each point
// (right, left, above, below, diagonals; then further away) whose box overlaps no other label,
// no marker, no line of `lines` (polylines in data coordinates) and stays inside the frame; the
// least overlapping when none is free. Text size is estimated with kCharPx and kLinePx.
std::vector<PlacedLabel> place_labels(const std::vector<Point>& points, const std::vector<std::string>& texts,
                                      const Axis& x, const Axis& y, const Frame& frame,
                                      const std::vector<std::vector<Point>>& lines = {});

// Text from data (ids, titles, a calibration's device name) as a gnuplot script string that gnuplot
// takes literally. gnuplot runs `...` inside double-quoted strings as a shell command (and a quote
// that ends the string early lets the rest run as its own commands, `system(...)` or `set output`
// included); inside single quotes it expands nothing, and '' is its only escape. Control characters
// become spaces: a line break would end the command.
std::string gnuplot_string(const std::string& s);

// The same text as one whitespace-separated field of a gnuplot data file (read by columnhead() and
// xtic()): double-quoted, since the data reader knows no other quoting. The data reader expands
// nothing, but it has no escape either, so a double quote becomes a single one.
std::string gnuplot_datum(const std::string& s);

// gnuplot: the labels (and leader lines) as `set label` / `set arrow` commands, numbered from `first_tag`.
std::string gnuplot_labels(const std::vector<Point>& points, const std::vector<std::string>& texts,
                           const std::vector<PlacedLabel>& placed, int first_tag = 1);

}  // namespace decodesim::plot
