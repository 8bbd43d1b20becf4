#include "decodesim/published.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

namespace decodesim {

Table published_table(const std::vector<FigureCheck>& checks) {
  Table t{"validate", "Published figures against the simulator, each in its stated configuration", {}, {}, {}};
  t.columns = {{"figure", ""}, {"case", ""}, {"metric", ""}, {"measured", ""}, {"simulated", ""}, {"error", ""}, {"source", ""}};
  std::map<std::string, std::vector<double>> errors;  // |error| per figure, in the order first seen
  std::vector<std::string> order;
  for (const FigureCheck& c : checks) {
    t.add({c.figure.figure, c.figure.label, c.figure.metric, c.figure.measured, c.simulated, c.error(), c.figure.source});
    if (!errors.count(c.figure.figure)) order.push_back(c.figure.figure);
    errors[c.figure.figure].push_back(std::abs(c.error()));
  }
  for (const std::string& name : order) {
    std::vector<double>& e = errors[name];
    std::sort(e.begin(), e.end());
    const double median = e.size() % 2 ? e[e.size() / 2] : (e[e.size() / 2 - 1] + e[e.size() / 2]) / 2;
    t.notes.push_back(fmt::format("{}: |simulated / measured - 1| median {:.1f}%, worst {:.1f}% over {} figure(s).", name,
                                  100 * median, 100 * e.back(), e.size()));
  }
  return t;
}

}  // namespace decodesim
