// The serving stack's overheads (serving.hpp, docs/pipeline.md "Serving overheads"): each formula
// on its own, then the decode step with and without them, by hand.
#include "decodesim/pipeline.hpp"
#include "decodesim/serving.hpp"
#include "decodesim/validation.hpp"
#include "helpers.hpp"

using namespace decodesim;

namespace {
Pool roofline(const std::string& id) { return Pool{load_hardware(id), nullptr}; }

PipelineConfig step3_2a2f() {
  PipelineConfig c;
  c.deployment = parse_deployment("2A2F");
  c.batch = 6144, c.micro_batches = 3, c.context_tokens = 4096;
  return c;
}
}  // namespace

TEST_CASE("the default sampler is SGLang's four passes over the logits", "[serving]") {
  const ServingStack s;
  REQUIRE(s.sampler.size() == 4);
  // float cast 2 + 4, temperature 4 + 4, softmax 4 + 4, top-k/top-p read 4.
  CHECK(sampler_bytes_per_logit(s) == 26);
  CHECK(sampler_bytes_per_logit(no_serving_overhead()) == 0);
}

TEST_CASE("a step is the longer of the GPU's and the overlapped host's, or their sum without overlap", "[serving]") {
  ServingStack s = no_serving_overhead();
  CHECK(served_step_us(1000, s) == 1000);  // nothing added
  s.graph_gap_us = 4, s.host_step_us = 500;
  CHECK(served_step_us(1000, s) == 1004);  // host hidden under the GPU's step
  s.host_step_us = 3000;
  CHECK(served_step_us(1000, s) == 3000);  // host-bound: the GPU waits for it
  s.overlap = false, s.sync_gap_us = 20;
  CHECK(served_step_us(1000, s) == 1000 + 4 + 20 + 3000);
  // A graph per stage task: its gaps are in the stage tasks, not added per step.
  s.graphs = GraphScope::stage;
  CHECK(served_step_us(1000, s) == 1000 + 20 + 3000);
}

TEST_CASE("a stage graph pays its gap and one wait per GPU it hears from", "[serving]") {
  ServingStack s = no_serving_overhead();
  s.graph_gap_us = 2, s.event_wait_us = 1.5;
  CHECK(stage_gap_us(s, 3) == 0);  // a graph per step: nothing per stage
  s.graphs = GraphScope::stage;
  CHECK(stage_gap_us(s, 0) == 2);
  CHECK(stage_gap_us(s, 3) == 2 + 3 * 1.5);
}

TEST_CASE("no serving overhead changes nothing, and a per-step gap and host time raise TPOT by hand", "[serving]") {
  const Model m = load_model("step3");
  const Pool a = roofline("h800");
  PipelineConfig c = step3_2a2f();
  c.serving = no_serving_overhead();
  const PipelineResult bare = simulate(m, a, a, c);
  CHECK(bare.step_ms == bare.gpu_step_ms);

  // A graph gap of 50 us per step: TPOT grows by exactly 0.05 ms, tokens per second fall with it.
  PipelineConfig gap = c;
  gap.serving.graph_gap_us = 50;
  const PipelineResult g = simulate(m, a, a, gap);
  CHECK(g.gpu_step_ms == Approx(bare.gpu_step_ms).epsilon(1e-12));
  CHECK(g.tpot_ms == Approx(bare.tpot_ms + 0.05).epsilon(1e-12));
  CHECK(g.tpot_max_ms == Approx(bare.tpot_max_ms + 0.05).epsilon(1e-12));
  CHECK(g.tgs == Approx(6144.0 / (g.tpot_ms * 1e-3) / 32).epsilon(1e-12));

  // A host step longer than the GPU's, overlapped: the step is the host's.
  PipelineConfig host = c;
  host.serving.host_step_us = bare.gpu_step_ms * 1e3 + 1000;
  CHECK(simulate(m, a, a, host).tpot_ms == Approx(bare.gpu_step_ms + 1.0).epsilon(1e-12));
  // Not overlapped, a short host step adds in full with the sync gap.
  host.serving.host_step_us = 300, host.serving.overlap = false, host.serving.sync_gap_us = 25;
  CHECK(simulate(m, a, a, host).tpot_ms == Approx(bare.tpot_ms + 0.325).epsilon(1e-12));
}

TEST_CASE("the sampler's passes are memory-bound kernels over the logits, on the head's timer", "[serving]") {
  // Roofline: each pass is its bytes at the chip's bandwidth; the default stack's 26 bytes per logit
  // for 128 requests per attention GPU and micro-batch (6144 / 3 / 16) over Step-3's vocabulary.
  const Model m = load_model("step3");
  const Pool a = roofline("h800");
  PipelineConfig c = step3_2a2f();
  PipelineConfig none = c;
  none.serving = no_serving_overhead();
  const double rows = 6144.0 / 3 / 16;
  const double expected_us = 1e6 * rows * double(m.vocab_size) * 26 / a.hw.mem_bytes_per_s;
  CHECK(step_head_us(m, a, c) - step_head_us(m, a, none) == Approx(expected_us).epsilon(1e-9));
  // No head, no sampler.
  c.kernels.lm_head = false;
  CHECK(step_head_us(m, a, c) == 0);
}

TEST_CASE("a graph per stage task adds its gap and waits to every attention and FFN task", "[serving]") {
  // One micro-batch: nothing overlaps, so each of the L layers' two compute tasks grows by its gap:
  // 2A2F at one GPU per instance is 2 attention and 2 FFN GPUs, each task hearing from the 2 of the other side.
  const Model m = moe_layers_only(load_model("step3"), 4);
  const Pool a = roofline("h800");
  PipelineConfig c;
  c.deployment = parse_deployment("2A2F", 1);
  c.batch = 64, c.micro_batches = 1, c.context_tokens = 4096;
  c.kernels = {.serving_stack = false, .attention = 2, .ffn = 2, .lm_head = false};
  c.serving = no_serving_overhead();
  const PipelineResult bare = simulate(m, a, a, c);
  c.serving.graphs = GraphScope::stage;
  c.serving.graph_gap_us = 3, c.serving.event_wait_us = 2;
  const PipelineResult staged = simulate(m, a, a, c);
  const double per_task_us = 3 + 2 * 2;
  CHECK(staged.tpot_ms == Approx(bare.tpot_ms + 4 * 2 * per_task_us * 1e-3).epsilon(1e-12));
}

TEST_CASE("serving-stack files: every key checked, none for the kernels alone", "[serving][loader]") {
  const ServingStack s = parse_serving_stack(R"({"id": "t", "source": "test", "graphs": "stage", "graph_gap_us": 2.5,
      "event_wait_us": 1, "host_step_us": 100, "overlap": false, "sync_gap_us": 30,
      "sampler": [{"name": "argmax", "read_bytes_per_logit": 2, "write_bytes_per_logit": 0}]})",
                                             "t.json");
  CHECK(s.graphs == GraphScope::stage);
  CHECK(s.graph_gap_us == 2.5);
  CHECK(s.event_wait_us == 1);
  CHECK(s.host_step_us == 100);
  CHECK_FALSE(s.overlap);
  CHECK(s.sync_gap_us == 30);
  REQUIRE(s.sampler.size() == 1);
  CHECK(sampler_bytes_per_logit(s) == 2);
  // Omitted keys keep the defaults.
  const ServingStack d = parse_serving_stack(R"({"id": "d", "source": "test"})", "d.json");
  CHECK(sampler_bytes_per_logit(d) == sampler_bytes_per_logit(ServingStack{}));
  CHECK(d.overlap);
  CHECK_THROWS_AS(parse_serving_stack(R"({"id": "t", "source": "x", "graph_gap": 1})", "t.json"), InputError);
  CHECK_THROWS_AS(parse_serving_stack(R"({"id": "t", "source": "x", "graphs": "layer"})", "t.json"), InputError);
  CHECK_THROWS_AS(parse_serving_stack(R"({"id": "t", "source": "x", "host_step_us": -1})", "t.json"), InputError);
  CHECK(sampler_bytes_per_logit(load_serving_stack("none")) == 0);
  const ServingStack bench = load_serving_stack((test::source_dir() / kServedRunsServing).string());
  CHECK(bench.graphs == GraphScope::stage);
  CHECK(bench.sampler.empty());
}
