#include "decodesim/engine.hpp"

#include <algorithm>
#include <array>
#include <queue>
#include <stdexcept>

namespace decodesim {

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::attention: return "attention";
    case Stage::dispatch: return "dispatch";
    case Stage::ffn: return "ffn";
    case Stage::combine: return "combine";
  }
  return "?";
}

std::vector<std::string> resource_names(bool shared_resources) {
  if (shared_resources) return {"gpu", "network"};
  return {"attention", "a2f", "ffn", "f2a"};
}

EventRun run_events(const EventPipeline& p, std::vector<TaskRecord>* tasks) {
  const int L = static_cast<int>(p.layers.size());
  const int n = p.micro_batches;
  if (L == 0 || n < 1 || p.steps < 1 || p.warmup_steps < 0 || p.warmup_steps >= p.steps)
    throw std::invalid_argument("run_events: need layers, micro_batches >= 1 and 0 <= warmup_steps < steps");
  // Stage s of a layer runs on resource_of[s].
  const std::array<int, 4> resource_of = p.shared_resources ? std::array<int, 4>{0, 1, 0, 1} : std::array<int, 4>{0, 1, 2, 3};
  const int R = p.shared_resources ? 2 : 4;
  // A micro-batch's tasks within a step, in order: (layer, stage) -> duration.
  const long tasks_per_step = 4L * L;
  std::vector<double> duration(tasks_per_step);
  for (int l = 0; l < L; ++l) {
    const StageTimes& s = p.layers[l];
    duration[4 * l] = s.attention_us, duration[4 * l + 1] = s.dispatch_us;
    duration[4 * l + 2] = s.ffn_us, duration[4 * l + 3] = s.combine_us;
  }
  const long last_task = tasks_per_step * p.steps;
  if (tasks) tasks->reserve(tasks->size() + n * last_task);

  // Each micro-batch is a chain of tasks (step, layer, stage); a resource serves its queue in
  // arrival order, one task at a time. Events are task completions.
  struct Event {
    double t;
    long seq;
    int mb;
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events;
  // FIFO per resource; a micro-batch waits in at most one, so n slots each suffice.
  struct Fifo {
    std::vector<int> slot;
    int head = 0, size = 0;
  };
  std::vector<Fifo> queue(R, Fifo{std::vector<int>(n), 0, 0});
  std::vector<char> busy(R, 0);  // not vector<bool>: this is the inner loop
  std::vector<long> task(n, 0);  // the task each micro-batch waits for or runs
  std::vector<std::vector<double>> done(n, std::vector<double>(p.steps, 0.0));
  std::vector<double> started(tasks ? n : 0);  // when each micro-batch's running task began
  long seq = 0;
  EventRun run;

  auto finish = [&](int mb, double t) {  // task[mb] is complete at t
    if (++task[mb] % tasks_per_step == 0) done[mb][task[mb] / tasks_per_step - 1] = t;
  };
  // Zero-length stages (EP dense layers send nothing) take no turn on their resource.
  auto advance = [&](int mb, double t) {
    while (task[mb] < last_task && duration[task[mb] % tasks_per_step] <= 0) finish(mb, t);
    if (task[mb] == last_task) return;
    Fifo& q = queue[resource_of[task[mb] % 4]];
    q.slot[(q.head + q.size++) % n] = mb;
  };
  auto start = [&](int r, double t) {
    Fifo& q = queue[r];
    if (busy[r] || q.size == 0) return;
    const int mb = q.slot[q.head];
    q.head = (q.head + 1) % n, --q.size;
    busy[r] = 1;
    if (tasks) started[mb] = t;
    events.push({t + duration[task[mb] % tasks_per_step], seq++, mb});
  };

  for (int mb = 0; mb < n; ++mb) advance(mb, 0.0);
  for (int r = 0; r < R; ++r) start(r, 0.0);
  while (!events.empty()) {
    const Event e = events.top();
    events.pop();
    ++run.events;
    const int r = resource_of[task[e.mb] % 4];
    busy[r] = 0;
    if (tasks) {
      const long i = task[e.mb] % tasks_per_step;
      tasks->push_back({r, e.mb, static_cast<int>(task[e.mb] / tasks_per_step), static_cast<int>(i / 4),
                        static_cast<Stage>(i % 4), started[e.mb], e.t});
    }
    finish(e.mb, e.t);
    advance(e.mb, e.t);
    start(r, e.t);
    if (task[e.mb] < last_task) start(resource_of[task[e.mb] % 4], e.t);
  }

  const int W = p.warmup_steps;
  double sum = 0;
  for (int mb = 0; mb < n; ++mb) {
    const double begin = W == 0 ? 0.0 : done[mb][W - 1];
    sum += (done[mb][p.steps - 1] - begin) / (p.steps - W);
    for (int s = W; s < p.steps; ++s)
      run.tpot_max_us = std::max(run.tpot_max_us, done[mb][s] - (s == 0 ? 0.0 : done[mb][s - 1]));
  }
  run.tpot_mean_us = sum / n;
  for (int mb = 0; mb < n; ++mb) run.end_us = std::max(run.end_us, done[mb][p.steps - 1]);
  run.busy_us_per_step.assign(R, 0.0);
  for (long i = 0; i < tasks_per_step; ++i) run.busy_us_per_step[resource_of[i % 4]] += n * duration[i];
  return run;
}

}  // namespace decodesim
