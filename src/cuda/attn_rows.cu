// Rows kernel variants (attention_rows.cuh): several query tokens per request, 128 rows of a KV head
// sharing each cache tile, for MFA 256/256, GQA 128/128 and un-absorbed MLA prefill 192/128;
// 128-token tiles for BF16 heads of 128 value columns; PP: the warpgroups issue in turn (it gains
// with 128-token tiles, bench/results/h100-rows-pp/).
#include "attention_variants.cuh"

namespace decodesim::gpu::detail {

void register_attn_rows(std::vector<AttnVariant>& out) {
  //                          DQK  DV   FP8    NS TN  NVT PP
  out.push_back(rows_variant<RowsCfg<256, 256, false, 2>>());
  out.push_back(rows_variant<RowsCfg<256, 256, true, 3>>());
  out.push_back(rows_variant<RowsCfg<256, 256, true, 4>>());
  out.push_back(rows_variant<RowsCfg<256, 256, true, 3, 64, 2, true>>());
  out.push_back(rows_variant<RowsCfg<128, 128, false, 4>>());
  out.push_back(rows_variant<RowsCfg<128, 128, false, 2, 128>>());
  out.push_back(rows_variant<RowsCfg<128, 128, false, 3, 128>>());
  out.push_back(rows_variant<RowsCfg<128, 128, false, 3, 128, 2, true>>());
  out.push_back(rows_variant<RowsCfg<128, 128, true, 4>>());
  out.push_back(rows_variant<RowsCfg<192, 128, false, 3>>());
  out.push_back(rows_variant<RowsCfg<192, 128, false, 2, 128>>());
  out.push_back(rows_variant<RowsCfg<192, 128, false, 3, 64, 2, true>>());
  out.push_back(rows_variant<RowsCfg<192, 128, true, 4>>());
}

}  // namespace decodesim::gpu::detail
