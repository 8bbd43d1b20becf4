// What a serving stack spends on a decode step besides the model's kernels: sampling over the
// vocabulary, the GPU's idle gaps between CUDA graphs, and the host's scheduling of the next step
// (docs/pipeline.md, "Serving overheads"). Data: a serving-stack file (`serving/<id>.json`,
// docs/schema.md) overrides these defaults key by key; every default names its source.
#pragma once
#include <string>
#include <vector>

namespace decodesim {

// One element-wise kernel over the step's [requests x vocabulary] logits.
struct SamplerPass {
  std::string name;
  double read_bytes_per_logit = 0, write_bytes_per_logit = 0;
};

// Which work one CUDA graph holds, hence how many graph gaps a step pays.
enum class GraphScope {
  step,   // the whole decode forward is one graph per step (SGLang's and vLLM's CUDA-graph runners)
  stage,  // one graph per stage task: a layer's attention or FFN for one micro-batch (the pipeline bench)
};

struct ServingStack {
  std::string id = "default";
  // The sampler's passes over the logits, after the LM head writes them in BF16. Default: SGLang's
  // (python/sglang/srt/layers/logits_processor.py: logits[:, :vocab].float(); sampler.py:
  // logits.div_(temperatures), torch.softmax, FlashInfer's top_k_top_p_sampling_from_probs, which
  // reads the probabilities at least once).
  std::vector<SamplerPass> sampler = {{"float", 2, 4}, {"temperature", 4, 4}, {"softmax", 4, 4}, {"top_k_top_p", 4, 0}};
  GraphScope graphs = GraphScope::step;
  // GPU idle between two graphs already queued on one stream, beyond what a kernel or graph timed
  // alone between two events (the calibration) contains. Default 0: with the overlap scheduler
  // SGLang's Nsight profile shows no idle time between consecutive decode batches (SGLang v0.4 blog,
  // lmsys.org/blog/2024-12-04-sglang-v0-4), and on an H100 a graph replayed behind another adds no
  // gap beyond its own kernels (bench/results/h100-serving-overheads); decodesim_step_gap_bench
  // measures it alone.
  double graph_gap_us = 0;
  // Per cross-GPU event a stage graph waits on, with the event recorded after it (GraphScope::stage:
  // the pipeline bench's Signals). Default 0; decodesim_step_gap_bench measures it.
  double event_wait_us = 0;
  // Host CPU time to schedule and issue one step (batch assembly, metadata, the launch itself).
  // Default 0: no published per-step figure we hold; under overlap it counts only when longer than
  // the GPU's step (a decode step is tens of ms here), so give it (--serving FILE) to study that.
  double host_step_us = 0;
  // The host prepares step n+1 while the GPU runs step n (SGLang's overlap scheduler, vLLM v1's
  // async scheduling, TensorRT-LLM's overlap scheduler, each on by default): the step takes the
  // longer of the two. Without it the host waits for step n's tokens, then schedules and launches.
  bool overlap = true;
  // Without overlap: the GPU's idle time from the end of one step to the start of the next that
  // a host synchronisation and a fresh launch cost, host_step_us aside: 6.2 us on an H100
  // (decodesim_step_gap_bench: a 400-kernel step graph 781.5 us with a synchronisation per step,
  // 775.4 back to back; bench/results/h100-mtp-prefill-cal/step_gap.log). Counts only without overlap.
  double sync_gap_us = 6.2;
};

// A stack that adds nothing: no sampler, no gaps, no host time (the kernels alone).
ServingStack no_serving_overhead();

// Bytes the sampler moves per logit, all passes (read + write).
double sampler_bytes_per_logit(const ServingStack& s);

// A decode step's time from the GPU's: overlapped, max(gpu + graph gap, host); else gpu + sync gap
// + host. The per-step graph gap counts only for GraphScope::step (per-stage gaps are in the stage
// tasks already, stage_gap_us).
double served_step_us(double gpu_step_us, const ServingStack& s);

// The gap a stage task pays before its graph under GraphScope::stage, waiting on `events` other
// GPUs' events; 0 for GraphScope::step.
double stage_gap_us(const ServingStack& s, int events);

}  // namespace decodesim
