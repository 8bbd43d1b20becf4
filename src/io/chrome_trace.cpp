#include "decodesim/chrome_trace.hpp"

#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace decodesim {

using nlohmann::ordered_json;

std::string chrome_trace_json(const Timeline& t) {
  // pid 0 is the idle process in some viewers: resources count from 1.
  auto pid_of = [](int resource) { return resource + 1; };
  std::vector<ordered_json> events;
  for (size_t r = 0; r < t.resources.size(); ++r) {
    const int pid = pid_of(static_cast<int>(r));
    events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"args", {{"name", t.resources[r]}}}});
    events.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", pid}, {"args", {{"sort_index", pid}}}});
  }
  std::set<std::pair<int, int>> lanes;  // (pid, micro-batch) seen
  for (const TaskRecord& k : t.tasks)
    if (lanes.emplace(pid_of(k.resource), k.micro_batch).second)
      events.push_back({{"name", "thread_name"},
                        {"ph", "M"},
                        {"pid", pid_of(k.resource)},
                        {"tid", k.micro_batch},
                        {"args", {{"name", fmt::format("micro-batch {}", k.micro_batch)}}}});
  for (const TaskRecord& k : t.tasks) {
    const char* stage = stage_name(k.stage);
    const std::string resource =
        k.resource >= 0 && size_t(k.resource) < t.resources.size() ? t.resources[k.resource] : fmt::format("{}", k.resource);
    events.push_back({{"name", fmt::format("{} L{} mb{}", stage, k.layer, k.micro_batch)},
                      {"ph", "X"},
                      {"ts", k.start_us},
                      {"dur", k.end_us - k.start_us},
                      {"pid", pid_of(k.resource)},
                      {"tid", k.micro_batch},
                      {"args",
                       {{"stage", stage}, {"layer", k.layer}, {"micro_batch", k.micro_batch}, {"step", k.step}, {"resource", resource}}}});
  }
  // One event per line: the file stays readable and diffable at thousands of events.
  std::string out = "{\"otherData\": " + ordered_json{{"title", t.title}}.dump() + ",\n\"traceEvents\": [\n";
  for (size_t i = 0; i < events.size(); ++i) out += events[i].dump() + (i + 1 < events.size() ? ",\n" : "\n");
  return out + "]}\n";
}

}  // namespace decodesim
