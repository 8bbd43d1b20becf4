// The 4-bit KV cache's value format, e2m1 (OCP Microscaling Formats v1.0, FP4: sign, two exponent
// bits of bias 1, one mantissa bit; values 0, 0.5, 1, 1.5, 2, 3, 4, 6 and their negatives), and its
// exact expansion to e4m3 that the attention kernels run. One home for both, for the kernels and
// for the host (the float64 reference, the unit tests): without CUDA it is plain C++.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define DS_E2M1_FN __host__ __device__ __forceinline__
#else
#define DS_E2M1_FN inline
#endif

namespace decodesim::gpu::e2m1 {

// The value of the code in the low nibble of `code`.
DS_E2M1_FN float to_float(uint8_t code) {
  const int e = (code >> 1) & 3, m = code & 1;
  const float mag = e == 0 ? 0.5f * float(m) : float(1 << (e - 1)) * (1.f + 0.5f * float(m));
  return (code & 8) ? -mag : mag;
}

// Bytes of (a, b) picked by the four selector nibbles of `sel` (0-3: a's, 4-7: b's): PRMT.
DS_E2M1_FN uint32_t byte_perm(uint32_t a, uint32_t b, uint32_t sel) {
#ifdef __CUDA_ARCH__
  return __byte_perm(a, b, sel);
#else
  const uint64_t x = (uint64_t(b) << 32) | a;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i) r |= uint32_t((x >> (8 * ((sel >> (4 * i)) & 7))) & 0xFFu) << (8 * i);
  return r;
#endif
}

struct E4m3x8 {
  uint32_t lo, hi;  // values 0-3 and 4-7, one e4m3 byte each, in order
};
struct E4m3Pairs {
  uint32_t even, odd;  // values 0, 2, 4, 6 and 1, 3, 5, 7, one e4m3 byte each
};

// Eight e2m1 codes (value 2i in the low nibble of byte i, 2i + 1 in its high nibble: the usual
// packing) -> eight e4m3 bytes, the even values' and the odd values'. Placing e2m1's bits s e1 e0 m
// as e4m3's s 0 0 e1 e0 m 0 0 gives the same value times 2^-6, the subnormal 0.5 included, so the
// expansion is exact and takes shifts and masks only; the 2^6 goes into the scales.
DS_E2M1_FN E4m3Pairs to_e4m3_pairs(uint32_t w) {
  return {((w << 4) & 0x80808080u) | ((w << 2) & 0x1C1C1C1Cu), (w & 0x80808080u) | ((w >> 2) & 0x1C1C1C1Cu)};
}
// The same in value order (two byte permutes more).
DS_E2M1_FN E4m3x8 to_e4m3x8(uint32_t w) {
  const E4m3Pairs e = to_e4m3_pairs(w);
  return {byte_perm(e.even, e.odd, 0x5140), byte_perm(e.even, e.odd, 0x7362)};
}

// The expansion's factor: an e2m1 value v reads as the e4m3 value v * kE4m3Factor.
inline constexpr float kE4m3Factor = 1.f / 64.f;

}  // namespace decodesim::gpu::e2m1

#undef DS_E2M1_FN
