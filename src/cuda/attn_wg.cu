// Warpgroup (wgmma, sm_90a) attention variants: MLA 576/512, MFA 256/256 and GQA 128/128, BF16 and FP8 KV.
#include "attention_variants.cuh"

namespace decodesim::gpu::detail {

void register_attn_wg(std::vector<AttnVariant>& out) {
  //                              DQK  DV   SHARED FP8    NP TMA    TN  MINB SPREAD LAZY   POST
  // BF16 MLA: the seesaw kernel (attn_seesaw.cu) is faster; this one stays as the lock-step reference.
  out.push_back(wg_variant<WgCfg<576, 512, true, false, 2, true, 32, 1, false, true>>());
  out.push_back(wg_variant<WgCfg<576, 512, true, true, 3, true>>());
  out.push_back(wg_variant<WgCfg<576, 512, true, true, 4, true>>());
  out.push_back(wg_variant<WgCfg<576, 512, true, true, 4, true, 32, 1, true>>());
  out.push_back(wg_variant<WgCfg<576, 512, true, true, 4, true, 32, 1, true, false, true>>());
  out.push_back(wg_variant<WgCfg<256, 256, false, false, 2, true>>());
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 4, true>>());
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 2, true, 64>>());
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 3, true, 64>>());
  // Two blocks an SM (MINB 2: 128 registers, 86 KB of shared memory each), so that one block's
  // softmax and barriers run under the other's products; the split count doubles to fill them.
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 2, true, 32, 2>>());
  // GQA FP8: the e4m3 warp-split kernel (attn_d128.cu) is faster up to 16 heads per KV head; this
  // one takes a group of up to 64 heads in one block.
  out.push_back(wg_variant<WgCfg<128, 128, false, true, 3, true, 64, 2>>());
  // BF16 GQA on warpgroup MMA: a group of 16 heads pads to 64 rows, which several query tokens fill.
  out.push_back(wg_variant<WgCfg<128, 128, false, false, 2, true, 64>>());
  out.push_back(wg_variant<WgCfg<128, 128, false, false, 4, true>>());

  // Several query tokens per request (MTP verification, prefill prompts and chunks): the variants
  // that were fastest for them, built with the rows' causal limits (MQ). Multi-token shapes take
  // these alone, one-token shapes the others.
  //                              DQK  DV   SHARED FP8    NP TMA    TN  MINB SPREAD LAZY   POST   MQ
  out.push_back(wg_variant<WgCfg<256, 256, false, false, 2, true, 32, 1, false, false, false, true>>());
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 2, true, 64, 1, false, false, false, true>>());
  // two blocks an SM: a request's two 64-row blocks beside each other, one's softmax under the other's products
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 2, true, 32, 2, false, false, false, true>>());
  out.push_back(wg_variant<WgCfg<128, 128, false, false, 2, true, 64, 1, false, false, false, true>>());
  out.push_back(wg_variant<WgCfg<128, 128, false, true, 3, true, 64, 2, false, false, false, true>>());
  out.push_back(wg_variant<WgCfg<576, 512, true, true, 4, true, 32, 1, true, false, true, true>>());
  // MLA prefill runs un-absorbed: per-head K of 192 (128 + 64 rope) and V of 128, as MHA.
  out.push_back(wg_variant<WgCfg<192, 128, false, false, 2, true, 64, 1, false, false, false, true>>());
  out.push_back(wg_variant<WgCfg<192, 128, false, true, 3, true, 64, 1, false, false, false, true>>());

  // 4-bit e2m1 caches, computed in e4m3 (FP4): copied by cp.async as they are stored, expanded in
  // shared memory by each warpgroup.
  constexpr Fp4Expand kInPlace = Fp4Expand::in_place, kAhead = Fp4Expand::ahead;
  //                              DQK  DV   SHARED FP8   NP TMA    TN  MINB SPREAD LAZY   POST   MQ     FP4 (expanded)
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 2, false, 64, 1, false, false, false, false, kInPlace>>());
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 3, false, 64, 1, false, false, false, false, kInPlace>>());
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 4, false, 32, 1, false, false, false, false, kInPlace>>());
  // two blocks an SM (103 KB each): one block's expansion beside the other's products
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 3, false, 32, 2, false, false, false, false, kInPlace>>());
  out.push_back(wg_variant<WgCfg<128, 128, false, true, 3, false, 64, 2, false, false, false, false, kInPlace>>());
  out.push_back(wg_variant<WgCfg<128, 128, false, true, 4, false, 64, 1, false, false, false, false, kInPlace>>());
  out.push_back(wg_variant<WgCfg<576, 512, true, true, 4, false, 32, 1, false, false, false, false, kInPlace>>());
  out.push_back(wg_variant<WgCfg<576, 512, true, true, 2, false, 64, 1, false, false, false, false, kInPlace>>());
  // The same, each pair's tiles expanded one pair ahead, beside the value products of the pair before
  // (Fp4Expand::ahead; a second set of staging tiles, so 32-token tiles for MFA and MLA).
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 3, false, 32, 1, false, false, false, false, kAhead>>());
  out.push_back(wg_variant<WgCfg<256, 256, false, true, 4, false, 32, 1, false, false, false, false, kAhead>>());
  out.push_back(wg_variant<WgCfg<128, 128, false, true, 3, false, 64, 1, false, false, false, false, kAhead>>());
  out.push_back(wg_variant<WgCfg<576, 512, true, true, 4, false, 32, 1, false, false, false, false, kAhead>>());
}

}  // namespace decodesim::gpu::detail
