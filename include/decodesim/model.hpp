// Model description: pure data, filled by the loader (io/loader.cpp), read by every analysis.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace decodesim {

// Storage/compute precisions a model part can use. fp4 is NVFP4 (E2M1 values in blocks of 16
// sharing one FP8 E4M3 scale), a storage format: a KV cache in it is computed on at 8 bits.
enum class Dtype { fp32, bf16, fp16, fp8, int8, int4, fp4 };
// Bytes per element, block scales included: fractional below 8 bits (fp4: 0.5625).
double dtype_bytes(Dtype d);
const char* dtype_name(Dtype d);

enum class AttentionKind {
  gqa,     // MHA and GQA: kv_heads K and V heads of head_dim, shared by q_heads query heads
  mfa,     // Step-3 multi-matrix factorisation: GQA-shaped cache (usually one K and one V head), low-rank query
  mla,     // DeepSeek multi-head latent attention, costed in its absorbed decode form
  linear,  // linear attention with a fixed-size per-head state (lightning attention etc.)
};
const char* attention_kind_name(AttentionKind k);

// How far back a softmax-attention layer looks when decoding the token at context C.
enum class AttentionScope { global, sliding, chunked };

struct AttentionSpec {
  std::string name;  // type name inside the model file
  AttentionKind kind = AttentionKind::gqa;
  int q_heads = 0;
  int kv_heads = 0;       // gqa/mfa/linear: K and V heads
  int head_dim = 0;       // gqa/mfa/linear: per-head dim of Q, K and V
  int q_lora_rank = 0;    // 0: full-rank query projection
  // mla only
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
  // local attention
  AttentionScope scope = AttentionScope::global;
  long window_tokens = 0;  // sliding window or chunk length
  // linear attention: an extra H x (q_heads*head_dim) output gate projection
  bool output_gate = false;
  // linear attention: tokens per block of its chunked prompt kernel (lightning attention), inside
  // which every causal pair is computed as in attention; 0: not given (the state's work alone)
  int block_tokens = 0;
  // Precision of this design's cache (KV, or the state of a linear layer) where it differs
  // from the model's quantization.kv / .state: Llama-4 keeps its NoPE layers' KV in BF16.
  std::optional<Dtype> cache_dtype;

  bool operator==(const AttentionSpec&) const = default;
};

enum class FfnKind { dense, moe };

struct FfnSpec {
  std::string name;
  FfnKind kind = FfnKind::dense;
  long intermediate = 0;         // dense: gated MLP width
  int routed_experts = 0;        // moe
  int top_k = 0;
  int shared_experts = 0;
  long expert_intermediate = 0;  // width of one routed expert
  long shared_intermediate = 0;  // width of one shared expert

  bool operator==(const FfnSpec&) const = default;
};

struct Quantization {
  Dtype weights = Dtype::fp8;
  Dtype kv = Dtype::fp8;          // softmax-attention KV cache
  Dtype state = Dtype::fp32;      // linear-attention state
  Dtype activations = Dtype::fp8; // hidden states sent to FFN instances (dispatch)
  Dtype combine = Dtype::bf16;    // FFN outputs sent back (combine)
  Dtype compute = Dtype::fp8;     // which peak FLOP/s the chip is costed at
};

// The precision a layer of design `a` keeps its cache in: its own, else the model's KV (softmax
// kinds) or state (linear) precision.
Dtype cache_dtype(const AttentionSpec& a, const Quantization& q);
// Every softmax-attention design's KV cache in `kv` (its own precision dropped); linear-attention
// state stays as described.
void set_kv_dtype(std::vector<AttentionSpec>& designs, Quantization& q, Dtype kv);

struct PublishedParams {
  double total_params = 0;      // 0: not published
  double activated_params = 0;
  bool includes_embeddings = true;
};

struct Model {
  std::string id;
  std::string name;
  std::string file;    // where it was loaded from, for messages
  std::string source;  // where the architecture facts come from
  long hidden_size = 0;
  long vocab_size = 0;
  bool tie_embeddings = false;
  std::vector<AttentionSpec> attention_types;
  std::vector<FfnSpec> ffn_types;
  // One index into attention_types / ffn_types per layer (expanded from the file's segments).
  std::vector<int> layer_attention;
  std::vector<int> layer_ffn;
  Quantization quant;
  PublishedParams published;

  int num_layers() const { return static_cast<int>(layer_attention.size()); }
  const AttentionSpec& attention(int layer) const { return attention_types[layer_attention[layer]]; }
  const FfnSpec& ffn(int layer) const { return ffn_types[layer_ffn[layer]]; }
};

// Layers sharing both their attention and FFN design cost the same: group them once.
struct LayerKinds {
  struct Group {
    int first_layer = 0;  // a representative layer
    int layers = 0;       // how many layers share it
  };
  std::vector<Group> groups;  // in order of first appearance
  std::vector<int> group_of;  // per layer, its index in groups
};
LayerKinds layer_kinds(const Model& m);

}  // namespace decodesim
