// The event engine on its own: micro-batches walk the layers through attention, dispatch, FFN and
// combine, each stage a FIFO resource. It schedules the tasks it is handed and knows nothing of
// models, chips or deployments.
#pragma once
#include <string>
#include <vector>

namespace decodesim {

// One micro-batch's time in each stage of one layer, on its own resource.
struct StageTimes {
  double attention_us = 0, dispatch_us = 0, ffn_us = 0, combine_us = 0;
};

// A layer's four tasks, in chain order.
enum class Stage { attention, dispatch, ffn, combine };
const char* stage_name(Stage s);

struct EventPipeline {
  std::vector<StageTimes> layers;  // per layer, identical for every micro-batch
  int micro_batches = 1;
  int steps = 4;
  int warmup_steps = 1;
  // EP: attention and FFN share the GPUs, dispatch and combine share the NICs (both directions).
  bool shared_resources = false;
};

struct EventRun {
  double tpot_mean_us = 0;  // a request's time between tokens after warm-up, mean over micro-batches
  double tpot_max_us = 0;   // the worst single step after warm-up
  double end_us = 0;        // when the last micro-batch finishes its last step
  std::vector<double> busy_us_per_step;  // per resource: attention, a2f, ffn, f2a (EP: gpu, network)
  long events = 0;
};

// One task as the engine ran it.
struct TaskRecord {
  int resource = 0;  // index into resource_names()
  int micro_batch = 0, step = 0, layer = 0;
  Stage stage = Stage::attention;
  double start_us = 0, end_us = 0;
};
// With `tasks`, also every task that took a turn on its resource, in order of completion.
EventRun run_events(const EventPipeline& p, std::vector<TaskRecord>* tasks = nullptr);
// The engine's resources by index: AFD attention, a2f, ffn, f2a; EP (shared) gpu, network.
std::vector<std::string> resource_names(bool shared_resources);
}  // namespace decodesim
