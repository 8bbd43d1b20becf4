// Row gathers for the served-pipeline bench: each output row is a weighted sum of input rows (or a
// copy of one), converted between bf16 and e4m3. One launch packs a micro-batch's tokens for
// dispatch, expands received tokens into expert order, reduces expert outputs per token, or combines
// what the FFN GPUs returned.
#pragma once
#include <cuda_runtime.h>

namespace decodesim::gpu::detail {

enum class RowType { bf16, e4m3 };

struct RowGather {
  const void* const* src = nullptr;  // [terms] input row pointers
  const float* weight = nullptr;     // [terms]
  const int* start = nullptr;        // [rows + 1]: the terms of output row r are start[r] .. start[r+1]-1
  void* const* out = nullptr;        // [rows] output row pointers (may point into another GPU's memory)
  int rows = 0, width = 0;           // width: elements per row, a multiple of 8
  RowType in = RowType::bf16, out_type = RowType::bf16;
  float in_scale = 1.f;              // e4m3 inputs: value = code * in_scale
  float out_inv_scale = 1.f;         // e4m3 outputs: code = value * out_inv_scale
};

void gather_rows(const RowGather& g, cudaStream_t s);

}  // namespace decodesim::gpu::detail
