#include "decodesim/chrome_trace.hpp"

#include <iterator>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace decodesim {

namespace {
// A JSON string literal, quotes included: names may come from a measured timeline.
std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }
}  // namespace

std::string chrome_trace_json(const Timeline& t) {
  // Written with fmt: building a JSON tree of thousands of events first took twice as long
  // (bench/bench.cpp, 15 against 31-37 ms for Step-3 2A2F's 2,928 tasks on the loaded build machine).
  // pid 0 is the idle process in some viewers: resources count from 1.
  auto pid_of = [](int resource) { return resource + 1; };
  std::vector<std::string> resource;
  for (const std::string& r : t.resources) resource.push_back(quoted(r));
  auto resource_of = [&](int r) { return r >= 0 && size_t(r) < resource.size() ? resource[r] : quoted(fmt::format("{}", r)); };

  fmt::memory_buffer out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{{\"otherData\": {{\"title\": {}}},\n\"traceEvents\": [\n", quoted(t.title));
  bool first = true;
  auto next = [&] {
    if (!first) fmt::format_to(it, ",\n");
    first = false;
  };
  for (size_t r = 0; r < resource.size(); ++r) {
    const int pid = pid_of(static_cast<int>(r));
    next();
    fmt::format_to(it, R"({{"name":"process_name","ph":"M","pid":{},"args":{{"name":{}}}}})", pid, resource[r]);
    next();
    fmt::format_to(it, R"({{"name":"process_sort_index","ph":"M","pid":{},"args":{{"sort_index":{}}}}})", pid, pid);
  }
  std::set<std::pair<int, int>> lanes;  // (pid, micro-batch) named so far
  for (const TaskRecord& k : t.tasks)
    if (lanes.emplace(pid_of(k.resource), k.micro_batch).second) {
      next();
      fmt::format_to(it, R"({{"name":"thread_name","ph":"M","pid":{},"tid":{},"args":{{"name":"micro-batch {}"}}}})",
                     pid_of(k.resource), k.micro_batch, k.micro_batch);
    }
  for (const TaskRecord& k : t.tasks) {
    const char* stage = stage_name(k.stage);
    next();
    // {} prints the shortest representation that reads back to the same double.
    fmt::format_to(it,
                   R"({{"name":"{} L{} mb{}","ph":"X","ts":{},"dur":{},"pid":{},"tid":{},)"
                   R"("args":{{"stage":"{}","layer":{},"micro_batch":{},"step":{},"resource":{}}}}})",
                   stage, k.layer, k.micro_batch, k.start_us, k.end_us - k.start_us, pid_of(k.resource), k.micro_batch, stage,
                   k.layer, k.micro_batch, k.step, resource_of(k.resource));
  }
  fmt::format_to(it, "\n]}}\n");
  return fmt::to_string(out);
}

}  // namespace decodesim
