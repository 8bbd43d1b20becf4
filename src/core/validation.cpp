#include "decodesim/validation.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "decodesim/errors.hpp"

namespace decodesim {

Model moe_layers_only(const Model& m, int layers) {
  const auto moe = std::find_if(m.ffn_types.begin(), m.ffn_types.end(), [](const FfnSpec& f) { return f.kind == FfnKind::moe; });
  if (moe == m.ffn_types.end()) throw InputError(m.id + ": has no MoE layer to run");
  if (layers < 1) throw InputError(m.id + ": a run needs at least one layer");
  Model out = m;
  out.id = m.id + "-" + std::to_string(layers) + "moe";
  out.layer_attention.assign(layers, 0);
  out.layer_ffn.assign(layers, int(moe - m.ffn_types.begin()));
  return out;
}

ServedCheck check_served_run(const ServedRun& run, const Model& model, const Pool& pool, const ServingStack& stack) {
  const bool ep = run.deployment.rfind("EP", 0) == 0;
  PipelineConfig c;
  // AFD at GPU granularity: every GPU its own instance; EP: one instance of all the machine's GPUs.
  c.deployment = parse_deployment(run.deployment, ep ? run.gpus : 1);
  if (c.deployment.gpus() != run.gpus)
    throw InputError(run.deployment + ": " + std::to_string(c.deployment.gpus()) + " GPUs, the run used " + std::to_string(run.gpus));
  c.context_tokens = run.context;
  c.batch = run.batch;
  c.micro_batches = run.micro_batches;
  // The bench runs, per layer and micro-batch, only the combine and pack kernels on the attention
  // GPUs and the expand and reduce kernels on the FFN GPUs, and no LM head.
  c.kernels = {.serving_stack = false, .attention = 2, .ffn = 2, .lm_head = false};
  // Its transfers are its own peer copies (the link profile's latency and rate), and it routes each
  // token to top-k experts uniformly at random (gpu::routed_token_counts): no popularity skew.
  c.transport.fanout = Fanout::per_instance;
  c.transport.routing.popularity_cv = 0;
  // How the bench issues its graphs and waits (its own stack description; it samples nothing).
  c.serving = stack;
  c.tpot_sla_ms = 1e9;  // the run's step time is what is compared, whatever the SLA
  ServedCheck out;
  out.run = run;
  out.simulated_tpot_ms = simulate(moe_layers_only(model, run.layers), pool, pool, c).tpot_ms;
  return out;
}

Table validation_table(const std::vector<ServedCheck>& checks) {
  Table t;
  t.name = "pipeline-validation";
  t.title = "Served decoding on one machine's GPUs: measured decode step against the simulation";
  t.columns = {{"deployment", ""}, {"model", ""},          {"gpus", ""},           {"context", "tokens"},
               {"batch", "requests"}, {"micro_batches", ""}, {"layers", ""},        {"kv_dtype", ""},
               {"measured_tpot_ms", "ms"}, {"simulated_tpot_ms", "ms"}, {"error", ""}};
  for (const ServedCheck& c : checks)
    t.add({c.run.deployment, c.run.model, double(c.run.gpus), c.run.context, c.run.batch, double(c.run.micro_batches),
           double(c.run.layers), c.run.kv_dtype, c.run.measured_tpot_ms, c.simulated_tpot_ms, c.error()});
  std::vector<double> e;
  for (const ServedCheck& c : checks) e.push_back(std::abs(c.error()));
  if (!e.empty()) {
    std::sort(e.begin(), e.end());
    const double med = e.size() % 2 ? e[e.size() / 2] : 0.5 * (e[e.size() / 2 - 1] + e[e.size() / 2]);
    t.notes.push_back(fmt::format("|simulated / measured - 1|: median {:.2f}%, worst {:.2f}% over {} runs.", med * 100, e.back() * 100,
                                  e.size()));
  }
  return t;
}

}  // namespace decodesim
