// What is deployed, as data: which GPUs run attention and which run the FFN, with what tensor,
// expert and data parallelism, and which of them share a node (NVLink) rather than a network.
// Per-GPU shapes, memory and collectives are derived from it (deployment.cpp), so that a new
// scheme is a new description, not a branch in the timers, the engine or the tables.
#pragma once
#include <string>

#include "decodesim/census.hpp"
#include "decodesim/model.hpp"

namespace decodesim {

// afd: attention and FFN on separate pools of GPUs, hidden states crossing the network between
// them (report sections 3, 6). colocated: every GPU runs both (expert parallelism as DeepSeek and
// SGLang run it, tensor parallelism as vLLM and TensorRT-LLM run it, and their mixes).
enum class DeploymentKind { afd, colocated };

struct Deployment {
  DeploymentKind kind = DeploymentKind::afd;
  int attention_instances = 1;  // afd: x instances of gpus_per_instance GPUs
  int ffn_instances = 1;        // afd: y instances
  int colocated_gpus = 0;       // colocated: the GPUs of the one instance
  int gpus_per_instance = 8;    // GPUs of one node (one NVLink domain); an AFD instance is one node
  // GPUs sharing one request's attention heads (its KV, projections and an all-reduce of o's
  // output); the attention GPUs form attention_gpus() / attention_tp data-parallel groups.
  int attention_tp = 1;
  // GPUs sharing every expert (and dense FFN) by splitting its width; routed experts spread over
  // ffn_gpus() / ffn_tp expert-parallel groups. Colocated: 1 (EP) or every GPU (TP).
  int ffn_tp = 1;

  bool colocated() const { return kind == DeploymentKind::colocated; }
  int attention_gpus() const { return colocated() ? colocated_gpus : attention_instances * gpus_per_instance; }
  int ffn_gpus() const { return colocated() ? colocated_gpus : ffn_instances * gpus_per_instance; }
  int gpus() const { return colocated() ? colocated_gpus : attention_gpus() + ffn_gpus(); }
  int attention_dp() const { return attention_gpus() / attention_tp; }  // data-parallel attention groups
  int expert_parallel() const { return ffn_gpus() / ffn_tp; }          // expert-parallel groups
  // Nodes the attention GPUs span (colocated: all the GPUs): the scale-out network joins them.
  int attention_nodes() const { return (attention_gpus() + gpus_per_instance - 1) / gpus_per_instance; }
  bool tensor_parallel() const { return colocated() && ffn_tp == colocated_gpus && attention_tp == colocated_gpus; }
  // "2A2F", "EP128", "TP8"; a non-default attention or FFN TP is added: "EP16-ATP4", "2A2F-ATP2-FTP8".
  std::string name() const;
  // What each stage runs, in words: "attention DP16 x TP1, FFN EP16 x TP1".
  std::string parallelism() const;
};

// "2A2F", "EP16" or "TP8" (any of them with -ATPn and -FTPn), then checked: see check_deployment.
// EPn and TPn count GPUs: any count inside one node, else whole nodes. Throws InputError.
Deployment parse_deployment(const std::string& text, int gpus_per_instance = 8);
// Throws InputError naming `option` when a TP degree does not divide its stage, spans nodes where
// it must not (an AFD instance is one node) or a colocated FFN TP is neither 1 nor every GPU.
void check_deployment(const Deployment& d, const char* option = "--deployment");

// ---- Per-GPU shapes of one layer and one micro-batch -----------------------------------------

// What one GPU of each stage computes for one layer of one micro-batch of `tokens` requests
// (whole deployment), and which collectives join it to the others.
struct LayerShard {
  // Attention: requests of this GPU's data-parallel group (every GPU of the group sees them all),
  // each with `query_tokens` rows (MTP: its last token and K drafts); every row count below
  // (dispatch, dense, routed pairs, group tokens) is in rows.
  double attention_requests = 0;
  int query_tokens = 1;
  double attention_rows = 0;
  // Rows each GPU sends to the FFN side and gets back (its share of its group's requests).
  double dispatch_rows = 0;
  // FFN: tokens through the dense FFN or shared experts on this GPU, their width split dense_tp ways.
  double dense_tokens = 0;
  int dense_tp = 1;
  // Routed experts: (token, expert) pairs this GPU multiplies through its 1/ffn_tp slice of each
  // expert it holds, of `experts_held` experts of one expert-parallel group.
  double routed_pairs = 0;
  double experts_held = 0;
  int expert_tp = 1;
  // Tokens of the expert-parallel group (the probability an expert receives one comes from them).
  double group_tokens = 0;
};
// `requests`: requests of one micro-batch, whole deployment, each with `query_tokens` rows.
LayerShard layer_shard(const Deployment& d, const FfnSpec& f, double requests, int query_tokens = 1);

// The share of a request's KV (or linear state) each GPU of a TP group of `tp` holds and reads:
// GQA splits by KV heads while there are enough to go round (else each GPU keeps one, replicated);
// an MLA or MFA latent serves every head, so every GPU keeps all of it; a linear layer's state is
// per query head.
double kv_share(const AttentionSpec& a, int tp);
// The share of a projection's weight (and its GEMM) on each GPU of an attention TP group of `tp`:
// per-head outputs split by columns, o by input rows, the KV projection by KV heads (as kv_share),
// the low-rank down-projections (q_a, kv_a) whole on every GPU.
double projection_share(const AttentionSpec& a, const Projection& p, int tp);

// The weights one GPU of each side holds, in parameters, and the KV one attention GPU holds per
// request of its group at a context.
struct ShardParams {
  double attention = 0;  // projections, routers, norms' neighbours: embedding and LM head included
  double ffn = 0;        // routed experts, shared experts and dense FFNs on one FFN GPU
};
// `draft_layers`: MTP draft passes' layers (of the design of layer `draft_layer`) held besides the
// model's own, with their [hidden; embedding] projection (2H -> H) and KV; their LM head is the model's.
ShardParams shard_params(const Model& m, const Deployment& d, int draft_layers = 0, int draft_layer = 0);
double kv_bytes_per_request(const Model& m, const Deployment& d, double context_tokens, int draft_layers = 0, int draft_layer = 0);

}  // namespace decodesim
