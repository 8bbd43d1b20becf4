// Internals of the CUDA backend that the GPU tests and the timing tool reach past gpu.hpp.
// Plain C++ (no CUDA types), so host-only code may include it.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "decodesim/gpu.hpp"

namespace decodesim::gpu::detail {

struct Options {
  int warmup = 5;
  int repeats = 30;
  bool check = true;
  // Attention: time every kernel variant that fits the shape and keep the fastest (each is checked).
  bool autotune = true;
  std::string variant;  // force one attention variant by name (empty: automatic)
  int check_requests = 4;  // attention: requests compared with the CPU reference (all outputs are checked for poison)
};

// Attention kernel variants that can run this shape (names as in the labels).
std::vector<std::string> attention_variants(const AttentionShape& s);
// Measures one attention shape. With autotune, every variant is timed; `variants` (when given)
// receives one Measurement per variant and the fastest is returned.
Measurement measure_attention(const AttentionShape& s, const Options& o, std::vector<Measurement>* variants = nullptr);

// Runs the same logical KV cache once contiguous and once paged (pages shuffled) with one variant;
// outputs must be bit-identical.
struct LayoutCompare {
  double max_abs_diff = -1;
  double rel_error_contiguous = -1;
  double rel_error_paged = -1;
};
LayoutCompare attention_layout_compare(const AttentionShape& s, const std::string& variant = "");

Measurement measure_gemm(const GemmShape& g, const Options& o);
// The grouped kernels and (uniform routing) the per-expert cuBLASLt loop; `all` gets each, the fastest is returned.
Measurement measure_moe(const GroupedGemmShape& g, const Options& o, std::vector<Measurement>* all = nullptr);
// Projections then attention, captured in one CUDA graph; `parts` gets each piece timed alone.
Measurement measure_layer(const AttentionLayerShape& l, const Options& o, std::vector<Measurement>* parts = nullptr);
// Read-only streaming bandwidth (bytes read / time) over a buffer far larger than L2.
Measurement measure_read();

Options options_of(const SweepPlan& p);

// Each warpgroup-MMA form of the kernels alone on exact operands: (form, relative error).
std::vector<std::pair<std::string, double>> wgmma_probe();

// Issue-rate ceiling of one warpgroup-MMA form chained back to back by two warpgroups per SM.
struct WgmmaRate {
  std::string form;
  double tflops = 0;                    // whole device
  double flops_per_clk_sm = 0;          // per multiprocessor cycle (clock64)
  double operand_bytes_per_clk_sm = 0;  // shared-memory operand bytes read per cycle
};
std::vector<WgmmaRate> wgmma_rates();

}  // namespace decodesim::gpu::detail
