#include "decodesim/deployment.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <fmt/format.h>

#include "decodesim/census.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"

namespace decodesim {

std::string Deployment::name() const {
  std::string base;
  if (!colocated()) base = fmt::format("{}A{}F", attention_instances, ffn_instances);
  else if (tensor_parallel()) return fmt::format("TP{}", colocated_gpus);
  else base = fmt::format("EP{}", colocated_gpus);
  if (attention_tp > 1) base += fmt::format("-ATP{}", attention_tp);
  if (ffn_tp > 1) base += fmt::format("-FTP{}", ffn_tp);
  return base;
}

std::string Deployment::parallelism() const {
  return fmt::format("attention DP{} x TP{}, FFN EP{} x TP{}", attention_dp(), attention_tp, expert_parallel(), ffn_tp);
}

namespace {

bool divides(int part, int whole) { return part >= 1 && whole % part == 0; }

// The "-ATP4" / "-FTP8" parts after a deployment's base name, in any order; each degree 0 when absent.
struct TpSuffixes {
  int attention = 0, ffn = 0;
};
TpSuffixes take_suffixes(std::string& t, const std::string& original) {
  TpSuffixes out;
  const size_t dash = t.find('-');
  if (dash == std::string::npos) return out;
  std::string rest = t.substr(dash + 1);
  t.erase(dash);
  for (size_t at = 0; at <= rest.size();) {
    const size_t next = std::min(rest.find('-', at), rest.size());
    const std::string part = rest.substr(at, next - at);
    int* slot = part.starts_with("ATP") ? &out.attention : part.starts_with("FTP") ? &out.ffn : nullptr;
    const std::optional<long long> n = slot ? integer_in(part.substr(3), limits::kGpus) : std::nullopt;
    if (!n || *slot != 0)
      throw InputError(fmt::format("--deployment: '{}': after the name, -ATPn and -FTPn (once each) with n in {}", printable(original),
                                   limits::to_string(limits::kGpus)));
    *slot = static_cast<int>(*n);
    at = next + 1;
  }
  return out;
}

}  // namespace

Deployment parse_deployment(const std::string& text, int gpus_per_instance) {
  std::string t = text;
  t.erase(0, std::min(t.size(), t.find_first_not_of(" \t")));
  t.erase(t.find_last_not_of(" \t") + 1);
  for (char& ch : t) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  Deployment d;
  d.gpus_per_instance = gpus_per_instance;
  const TpSuffixes tp_parts = take_suffixes(t, text);
  const bool ep = t.starts_with("EP"), tp = t.starts_with("TP");
  if (ep || tp) {
    const std::optional<long long> n = integer_in(t.substr(2), limits::kGpus);
    // Inside one node any count; beyond it, whole nodes.
    if (!n || (*n > gpus_per_instance && *n % gpus_per_instance != 0))
      throw InputError(fmt::format("--deployment: '{}': {} counts GPUs: up to {} (one node), or a multiple of {} up to {}",
                                   printable(text), t.substr(0, 2), gpus_per_instance, gpus_per_instance, limits::kGpus.hi));
    d.kind = DeploymentKind::colocated;
    d.colocated_gpus = static_cast<int>(*n);
    d.attention_tp = tp ? d.colocated_gpus : 1;
    d.ffn_tp = tp ? d.colocated_gpus : 1;
  } else {
    const size_t a = t.find('A');
    const std::optional<long long> x = a == std::string::npos ? std::nullopt : integer_in(t.substr(0, a), limits::kInstances);
    const std::optional<long long> y = a == std::string::npos || !t.ends_with('F')
                                           ? std::nullopt
                                           : integer_in(t.substr(a + 1, t.size() - a - 2), limits::kInstances);
    if (!x || !y)
      throw InputError(fmt::format("--deployment: '{}': expected xAyF (e.g. 2A2F) with x and y in {}, EPn (e.g. EP16) or TPn "
                                   "(e.g. TP8), optionally with -ATPn and -FTPn",
                                   printable(text), limits::to_string(limits::kInstances)));
    d.attention_instances = static_cast<int>(*x);
    d.ffn_instances = static_cast<int>(*y);
  }
  if (tp_parts.attention) d.attention_tp = tp_parts.attention;
  if (tp_parts.ffn) d.ffn_tp = tp_parts.ffn;
  check_deployment(d);
  return d;
}

void check_deployment(const Deployment& d, const char* option) {
  const std::string name = d.name();
  if (d.gpus() < 1 || d.gpus() > limits::kGpus.hi)
    throw InputError(fmt::format("{} {}: {} GPUs, expected {}", option, name, d.gpus(), limits::to_string(limits::kGpus)));
  if (!divides(d.attention_tp, d.attention_gpus()))
    throw InputError(fmt::format("{} {}: attention TP {} must divide its {} GPUs", option, name, d.attention_tp, d.attention_gpus()));
  if (d.colocated()) {
    if (d.ffn_tp != 1 && d.ffn_tp != d.colocated_gpus)
      throw InputError(fmt::format("{} {}: FFN TP {} on colocated GPUs must be 1 (experts spread, EP) or all {} (TP)", option,
                                   name, d.ffn_tp, d.colocated_gpus));
    return;
  }
  // An AFD instance is one node: its TP groups stay inside it.
  for (const auto& [tp, what] : {std::pair{d.attention_tp, "attention"}, std::pair{d.ffn_tp, "FFN"}})
    if (!divides(tp, d.gpus_per_instance))
      throw InputError(fmt::format("{} {}: {} TP {} must divide the {} GPUs of an instance", option, name, what, tp,
                                   d.gpus_per_instance));
}

LayerShard layer_shard(const Deployment& d, const FfnSpec& f, double requests, int query_tokens) {
  LayerShard s;
  s.attention_requests = requests / d.attention_dp();
  s.query_tokens = query_tokens;
  // Past the attention core every query token is a row of its own: MTP multiplies the rows here, once.
  const double tokens = requests * query_tokens;
  s.attention_rows = tokens / d.attention_dp();
  s.dispatch_rows = tokens / d.attention_gpus();
  s.group_tokens = tokens;
  if (!d.colocated()) {
    // Dense layers and shared experts: tensor parallel over an FFN instance, on its share of the tokens.
    s.dense_tokens = tokens / d.ffn_instances;
    s.dense_tp = d.gpus_per_instance;
  } else if (d.ffn_tp == 1) {
    // Expert parallel: dense layers and shared experts run where the token is, whole.
    s.dense_tokens = s.dispatch_rows;
    s.dense_tp = 1;
  } else {
    s.dense_tokens = tokens;  // every GPU sees every token, through its slice of every weight
    s.dense_tp = d.ffn_tp;
  }
  if (f.kind == FfnKind::moe) {
    const double groups = d.expert_parallel();
    s.routed_pairs = tokens * f.top_k / groups;  // each GPU of a group multiplies all the group's pairs
    s.experts_held = f.routed_experts / groups;
    s.expert_tp = d.ffn_tp;
  }
  return s;
}

double kv_share(const AttentionSpec& a, int tp) {
  switch (a.kind) {
    case AttentionKind::mla: return 1.0;
    case AttentionKind::linear: return 1.0 / tp;
    default: {
      const double kv = a.kv_heads;
      return std::max(1.0, kv / tp) / kv;
    }
  }
}

double projection_share(const AttentionSpec& a, const Projection& p, int tp) {
  const std::string_view name = p.name;
  if (name == "q_a" || name == "kv_a") return 1.0;  // low-rank down-projections: whole on every GPU
  if (name == "kv") return kv_share(a, tp);           // by KV heads, replicated where too few
  return 1.0 / tp;                                    // per-head outputs by columns, o by input rows
}

ShardParams shard_params(const Model& m, const Deployment& d, int draft_layers, int draft_layer) {
  const ParamCount pc = count_params(m);
  const double H = double(m.hidden_size);
  // The embedding and LM head are split by vocabulary over an attention TP group.
  ShardParams s;
  s.attention = pc.embedding / d.attention_tp + draft_layers * 2.0 * H * H;  // draft: [hidden; embedding] -> H, whole
  for (int i = 0; i < m.num_layers() + draft_layers; ++i) {
    const int l = i < m.num_layers() ? i : draft_layer;
    const AttentionSpec& a = m.attention(l);
    const FfnSpec& f = m.ffn(l);
    for (const Projection& p : attention_projections(a, m.hidden_size)) s.attention += p.k * p.n * projection_share(a, p, d.attention_tp);
    const LayerCensus lc = layer_census(m, l, 0);
    s.attention += lc.router_params;
    const LayerShard sh = layer_shard(d, f, 1.0);
    if (f.kind == FfnKind::dense) {
      s.ffn += lc.ffn_total_params / sh.dense_tp;
    } else {
      const double shared = 3.0 * H * double(f.shared_experts) * f.shared_intermediate;
      // Every FFN GPU holds 1/G of the routed weights however they are split (experts or slices).
      s.ffn += (lc.ffn_total_params - shared) / d.ffn_gpus() + shared / sh.dense_tp;
    }
  }
  return s;
}

double kv_bytes_per_request(const Model& m, const Deployment& d, double context_tokens, int draft_layers, int draft_layer) {
  double bytes = 0;
  for (int i = 0; i < m.num_layers() + draft_layers; ++i) {
    const int l = i < m.num_layers() ? i : draft_layer;
    bytes += layer_census(m, l, context_tokens).kv_resident_bytes * kv_share(m.attention(l), d.attention_tp);
  }
  return bytes;
}

}  // namespace decodesim
