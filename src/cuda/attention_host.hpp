// Host side of decode attention, shared by the attention measurement and the layer measurement.
#pragma once
#include <vector>

#include "attention_variants.cuh"
#include "common.cuh"
#include "decodesim/gpu_measurement.hpp"

namespace decodesim::gpu::detail {

// Tokens a page of a paged cache holds (FlashMLA's paged KV block size).
constexpr int kPageTokens = 64;

struct AttnLaunch {
  const AttnVariant* v = nullptr;
  int head_blocks = 1, splits = 1, tokens_per_split = 0, grid = 0;
};

// Rows a KV head's blocks own: its query heads for each query token (AttnParams::group).
inline int rows_per_kv_head(const AttentionShape& s) { return s.q_heads / s.kv_heads * s.query_tokens; }

// Variants compiled for the shape's dims and dtype, restricted to the head-block size that suits its group.
std::vector<const AttnVariant*> matching_variants(const AttentionShape& s);
AttnLaunch plan_launch(const AttentionShape& s, const AttnVariant& v);

// Device data for one attention shape: `sets` independent (q, K, V) sets to rotate through, one
// block table (paged), output, split partials and the merge counters.
struct AttnData {
  AttentionShape s;
  bool mla = false, paged = false;
  int group = 1, sets = 1;  // group: query heads per KV head
  int page_size = kPageTokens, pages_per_req = 0;
  long long rows = 0, k_row_stride = 0, v_row_stride = 0, k_head_stride = 0, v_head_stride = 0;
  size_t k_elems = 0, v_elems = 0, q_elems = 0, out_elems = 0;
  float k_scale = 1.f, v_scale = 1.f;
  std::vector<DeviceBuffer> q, k, v;
  DeviceBuffer k_chan, v_chan;             // 4-bit caches: the channel scales ([kv_heads][dim]; MLA: K's serve V)
  std::vector<float> h_k_chan, h_v_chan;   // their host copies for the reference
  std::vector<int> h_table;
  std::vector<int> h_q_start;  // request b's query tokens start at packed row h_q_start[b] ([batch + 1])
  DeviceBuffer ctx_lens, q_start;  // variable length: their device copies
  DeviceBuffer table, out, o_part, lse, counters;

  explicit AttnData(const AttentionShape& shape, int sets_wanted = -1);
  size_t cache_bytes(size_t elems) const { return size_t(cache_bytes_of((long long)elems, s.kv_bits)); }
  void ensure_partials(int splits);
  AttnParams params(const AttnLaunch& L, int set, void* out_ptr = nullptr, bool out_fp8 = false, float out_scale = 1.f);
  void launch(const AttnLaunch& L, int set, cudaStream_t st, void* out_ptr = nullptr, bool out_fp8 = false, float out_scale = 1.f);
  std::vector<int> sample_requests(int n) const;
  // Rows of a request ([query token][query head]) the reference checks: all, or a spread for a prompt.
  std::vector<int> check_rows(int b) const;
};

// float64 reference for the listed requests of set `set`: [request][check_rows(request)][v_dim].
std::vector<double> attention_reference(const AttnData& d, int set, const std::vector<int>& reqs);
// Every output finite (no poison left), then ||out - ref|| / ||ref|| over the listed requests.
double check_attention_output(const AttnData& d, const std::vector<int>& reqs, const std::vector<double>& ref);
double attention_tolerance(const AttentionShape& s);

}  // namespace decodesim::gpu::detail
