#include "plot_layout.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <string_view>
#include <tuple>
#include <utility>

#include <fmt/format.h>

namespace decodesim::plot {

namespace {

constexpr double kGapPx = 4;  // between a marker and its label

struct Prefix {
  double scale;
  const char* suffix;
};

std::string prefixed(double v, std::initializer_list<Prefix> prefixes, const char* unit) {
  for (const Prefix& p : prefixes)
    if (std::fabs(v) >= p.scale * 0.9995) return number(v / p.scale) + p.suffix;
  return number(v) + unit;
}

}  // namespace

std::string number(double v, int significant) {
  if (v == 0 || !std::isfinite(v)) return v == 0 ? "0" : fmt::format("{}", v);
  const int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(v))));
  const double unit = std::pow(10.0, magnitude - significant + 1);
  const double rounded = std::round(v / unit) * unit;
  std::string s = fmt::format("{:.{}f}", rounded, std::max(0, significant - 1 - magnitude));
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

std::string count(double v) { return prefixed(v, {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}}, ""); }
std::string bytes(double v) { return prefixed(v, {{1e12, " TB"}, {1e9, " GB"}, {1e6, " MB"}, {1e3, " kB"}}, " B"); }
std::string flop(double v) {
  return prefixed(v, {{1e15, " PFLOP"}, {1e12, " TFLOP"}, {1e9, " GFLOP"}, {1e6, " MFLOP"}}, " FLOP");
}
std::string flop_per_s(double v) { return flop(v) + "/s"; }
std::string tokens(double v) { return prefixed(v, {{1024.0 * 1024, "M"}, {1024, "K"}}, ""); }
std::string usd(double v) {
  std::string out = "$";  // appended, not `"$" + number(v)`: GCC 12 warns falsely (-Wrestrict) on that
  return out += number(v);
}
std::string micros(double us) { return prefixed(us, {{1e6, " s"}, {1e3, " ms"}}, " us"); }
std::string plain(double v) { return number(v); }

double Axis::fraction(double v) const {
  if (log) return (std::log(v) - std::log(lo)) / (std::log(hi) - std::log(lo));
  return (v - lo) / (hi - lo);
}

std::string Axis::gnuplot(const std::string& name) const {
  std::string tics;
  for (const Tick& t : ticks) {
    // gnuplot reads a tic label as a format: a literal % is %%.
    std::string label;
    for (char c : t.label) label += c == '%' ? std::string("%%") : std::string(1, c);
    tics += fmt::format("{}{} {:.10g}", tics.empty() ? "" : ", ", gnuplot_string(label), t.value);
  }
  return fmt::format("set {0}range [{1:.10g}:{2:.10g}]\n{3} {0}\nset {0}tics ({4})\nunset m{0}tics\n", name, lo, hi,
                     log ? "set logscale" : "unset logscale", tics);
}

namespace {

// 1, 2 or 5 times a power of ten: the smallest such step giving at most max_ticks over the span.
double nice_step(double span, int max_ticks) {
  const double raw = span / std::max(1, max_ticks - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) return m * magnitude;
  return 10 * magnitude;
}

void linear_ticks(Axis& a, Labeler label, int max_ticks) {
  const double step = nice_step(a.hi - a.lo, max_ticks);
  for (long k = static_cast<long>(std::ceil(a.lo / step - 1e-9)); k * step <= a.hi * (1 + 1e-12) + 1e-300; ++k) {
    const double v = std::fabs(k * step) < step * 1e-9 ? 0.0 : k * step;
    a.ticks.push_back({v, label(v)});
  }
}

// Guards for degenerate data (no values, one value, or nothing positive on a log axis).
std::pair<double, double> spread(double lo, double hi, bool positive) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || (positive && !(hi > 0))) return {1, 10};
  if (positive && !(lo > 0)) lo = hi / 10;
  if (!(hi > lo)) {
    const double d = lo != 0 ? std::fabs(lo) * 0.5 : 1;
    return positive ? std::pair{lo / 2, hi * 2} : std::pair{lo - d, hi + d};
  }
  return {lo, hi};
}

}  // namespace

Axis linear_axis(double lo, double hi, Labeler label, bool from_zero, int max_ticks, double pad) {
  std::tie(lo, hi) = spread(lo, hi, false);
  Axis a;
  const double span = hi - lo;
  a.lo = from_zero ? std::min(0.0, lo) : lo - pad * span;
  a.hi = hi + pad * span;
  linear_ticks(a, label, max_ticks);
  return a;
}

namespace {

// A log axis over the data widened by the factor `pad`, no ticks yet.
Axis log_range(double& lo, double& hi, double pad) {
  std::tie(lo, hi) = spread(lo, hi, true);
  Axis a;
  a.log = true;
  a.lo = lo / pad, a.hi = hi * pad;
  return a;
}

}  // namespace

Axis log_axis(double lo, double hi, Labeler label, int max_ticks, double pad) {
  Axis a = log_range(lo, hi, pad);
  const int k0 = static_cast<int>(std::floor(std::log10(a.lo))), k1 = static_cast<int>(std::ceil(std::log10(a.hi)));
  auto ticks_with = [&](std::initializer_list<double> mantissas, int stride) {
    std::vector<Tick> t;
    for (int k = k0; k <= k1; ++k) {
      if (((k % stride) + stride) % stride != 0) continue;
      for (double m : mantissas) {
        const double v = m * std::pow(10.0, k);
        if (v >= a.lo && v <= a.hi) t.push_back({v, label(v)});
      }
    }
    return t;
  };
  a.ticks = ticks_with({1, 2, 5}, 1);
  if (a.ticks.size() < 3) {  // less than a decade or so: evenly spaced values read better
    a.ticks.clear();
    linear_ticks(a, label, max_ticks);
    a.ticks.erase(std::remove_if(a.ticks.begin(), a.ticks.end(), [](const Tick& t) { return t.value <= 0; }), a.ticks.end());
  }
  if (static_cast<int>(a.ticks.size()) > max_ticks) a.ticks = ticks_with({1, 3}, 1);
  for (int stride = 1; static_cast<int>(a.ticks.size()) > max_ticks; ++stride)
    a.ticks = ticks_with({1}, stride);
  return a;
}

Axis power_of_two_axis(double lo, double hi, Labeler label, int max_ticks, double pad) {
  Axis a = log_range(lo, hi, pad);
  const int k0 = static_cast<int>(std::ceil(std::log2(lo) - 1e-9)), k1 = static_cast<int>(std::floor(std::log2(hi) + 1e-9));
  int stride = 1;
  while ((k1 - k0) / stride + 1 > max_ticks) stride *= 2;
  for (int k = k0; k <= k1; k += stride) a.ticks.push_back({std::ldexp(1.0, k), label(std::ldexp(1.0, k))});
  return a;
}

double widest_label_px(const Axis& a) {
  size_t widest = 0;
  for (const Tick& t : a.ticks) widest = std::max(widest, t.label.size());
  return kCharPx * static_cast<double>(widest);
}

Axis fitted(const std::function<Axis(int max_ticks)>& make, double length_px, bool horizontal, int most) {
  for (int n = most;; --n) {
    Axis a = make(n);
    bool fits = true;
    for (size_t i = 1; i < a.ticks.size() && fits; ++i) {
      const double gap = std::fabs(a.fraction(a.ticks[i].value) - a.fraction(a.ticks[i - 1].value)) * length_px;
      const double need = horizontal ? kCharPx * static_cast<double>(a.ticks[i].label.size() + a.ticks[i - 1].label.size()) / 2 + 10
                                     : kLinePx + 4;
      fits = gap >= need;
    }
    if (fits || n <= 2) return a;
  }
}

std::string Frame::margins() const {
  return fmt::format("set lmargin at screen {:.4f}\nset rmargin at screen {:.4f}\nset bmargin at screen {:.4f}\n"
                     "set tmargin at screen {:.4f}\n",
                     left, right, bottom, top);
}

namespace {

struct Box {
  double x0, y0, x1, y1;
  double area() const { return std::max(0.0, x1 - x0) * std::max(0.0, y1 - y0); }
};

double overlap(const Box& a, const Box& b) {
  return Box{std::max(a.x0, b.x0), std::max(a.y0, b.y0), std::min(a.x1, b.x1), std::min(a.y1, b.y1)}.area();
}

double distance(const Box& b, double x, double y) {
  return std::hypot(x - std::clamp(x, b.x0, b.x1), y - std::clamp(y, b.y0, b.y1));
}

// Whether the segment (ax, ay)-(bx, by) passes through the box (Liang-Barsky clipping).
bool crosses(const Box& b, double ax, double ay, double bx, double by) {
  double t0 = 0, t1 = 1;
  const double dx = bx - ax, dy = by - ay;
  for (const auto& [p, q] : {std::pair{-dx, ax - b.x0}, std::pair{dx, b.x1 - ax}, std::pair{-dy, ay - b.y0},
                             std::pair{dy, b.y1 - ay}}) {
    if (p == 0) {
      if (q < 0) return false;
    } else {
      const double t = q / p;
      if (p < 0) t0 = std::max(t0, t);
      else t1 = std::min(t1, t);
      if (t0 > t1) return false;
    }
  }
  return true;
}

}  // namespace

std::pair<double, double> to_pixels(const Point& p, const Axis& x, const Axis& y, const Frame& frame) {
  return {(frame.left + x.fraction(p.x) * (frame.right - frame.left)) * frame.width_px,
          (frame.bottom + y.fraction(p.y) * (frame.top - frame.bottom)) * frame.height_px};
}

std::vector<PlacedLabel> place_labels(const std::vector<Point>& points, const std::vector<std::string>& texts,
                                      const Axis& x, const Axis& y, const Frame& frame,
                                      const std::vector<std::vector<Point>>& lines) {
  const double W = frame.width_px, H = frame.height_px;
  auto pixel = [&](const Point& p) { return to_pixels(p, x, y, frame); };
  const Box area{frame.left * W, frame.bottom * H, frame.right * W, frame.top * H};
  std::vector<std::pair<double, double>> px;
  std::vector<Box> obstacles;  // markers, then labels as they are placed
  for (const Point& p : points) {
    px.push_back(pixel(p));
    obstacles.push_back({px.back().first - kMarkerPx, px.back().second - kMarkerPx, px.back().first + kMarkerPx,
                         px.back().second + kMarkerPx});
  }
  std::vector<std::array<double, 4>> segments;
  for (const auto& line : lines)
    for (size_t i = 1; i < line.size(); ++i) {
      const auto [ax, ay] = pixel(line[i - 1]);
      const auto [bx, by] = pixel(line[i]);
      segments.push_back({ax, ay, bx, by});
    }

  // Most crowded first: they have the fewest free places.
  std::vector<size_t> order(points.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<int> neighbours(points.size(), 0);
  for (size_t i = 0; i < points.size(); ++i)
    for (size_t j = 0; j < points.size(); ++j)
      if (i != j && std::hypot(px[i].first - px[j].first, px[i].second - px[j].second) < 80) ++neighbours[i];
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return neighbours[a] > neighbours[b]; });

  std::vector<PlacedLabel> placed(points.size());
  for (size_t i : order) {
    const double w = kCharPx * static_cast<double>(texts[i].size()), h = kLinePx;
    const auto [cx, cy] = px[i];
    double best_score = INFINITY;
    for (int ring = 0; ring < 4; ++ring) {
      const double d = kMarkerPx + kGapPx + 14 * ring, e = d * 0.7;
      // (anchor x, anchor y, alignment): right, left, above, below, then the diagonals.
      const std::tuple<double, double, const char*> spots[] = {
          {cx + d, cy, "left"},           {cx - d, cy, "right"},          {cx, cy + d + h / 2, "center"},
          {cx, cy - d - h / 2, "center"}, {cx + e, cy + e + h / 2, "left"}, {cx + e, cy - e - h / 2, "left"},
          {cx - e, cy + e + h / 2, "right"}, {cx - e, cy - e - h / 2, "right"}};
      for (const auto& [ax, ay, align] : spots) {
        const double x0 = std::string_view(align) == "left" ? ax : std::string_view(align) == "right" ? ax - w : ax - w / 2;
        const Box box{x0, ay - h / 2, x0 + w, ay + h / 2};
        double score = ring + 100 * (box.area() - overlap(box, area));
        for (const Box& o : obstacles) score += 10 * overlap(box, o);
        // A label about as near to another marker as to its own may be read as that marker's; a
        // leader line says whose it is, but not when too short to show beside the marker.
        const double own = distance(box, cx, cy);
        bool ambiguous = false;
        for (size_t j = 0; j < px.size(); ++j)
          if (j != i && distance(box, px[j].first, px[j].second) < own + 8) score += ring == 0 ? 60 : 20, ambiguous = true;
        for (const auto& s : segments) score += crosses(box, s[0], s[1], s[2], s[3]) ? 200 : 0;
        if (score < best_score) {
          best_score = score;
          // A leader line to the nearest point of the box when the label sits apart, or near another marker.
          const double tx = std::clamp(cx, box.x0, box.x1), ty = std::clamp(cy, box.y0, box.y1);
          placed[i] = {ax / W, ay / H, align, ring >= 2 || (ring >= 1 && ambiguous), tx / W, ty / H, {box.x0, box.y0, box.x1, box.y1}};
        }
      }
      if (best_score < ring + 1) break;  // free at this distance: nearer is better than freer
    }
    const auto& b = placed[i].box_px;
    obstacles.push_back({b.x0, b.y0, b.x1, b.y1});
  }
  return placed;
}

namespace {
char printable_char(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c; }
}  // namespace

std::string gnuplot_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += printable_char(c);
  }
  return out + "'";
}

std::string gnuplot_datum(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? '\'' : printable_char(c);
  return out + "\"";
}

std::string gnuplot_labels(const std::vector<Point>& points, const std::vector<std::string>& texts,
                           const std::vector<PlacedLabel>& placed, int first_tag) {
  std::string gp;
  for (size_t i = 0; i < placed.size(); ++i) {
    const PlacedLabel& p = placed[i];
    const int tag = first_tag + static_cast<int>(i);
    gp += fmt::format("set label {} {} at screen {:.4f}, screen {:.4f} {} front\n", tag, gnuplot_string(texts[i]), p.x, p.y,
                      p.align);
    if (p.leader)
      gp += fmt::format("set arrow {} from first {:.6g}, first {:.6g} to screen {:.4f}, screen {:.4f} nohead lw 1 "
                        "lc rgb '#606060' back\n",
                        tag, points[i].x, points[i].y, p.to_x, p.to_y);
  }
  return gp;
}

}  // namespace decodesim::plot
