// The warp-split kernel's 4-bit K on the host (src/cuda/attention_e4m3.cuh): Q written in the k
// order e2m1_k_slot gives, read back as the A fragments of mma.m16n8k32 (PTX ISA fragment layout),
// against the B fragments a thread makes from its 16-byte load of a token's 4-bit row
// (e2m1_k_unit, to_e4m3_pairs): the product of the fragments must be Q K^T, exactly.
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/attention_e4m3.cuh"
#include "../e4m3_reference.hpp"

namespace decodesim::gpu::detail {

// "" when 16 heads x 8 tokens of the fragments' product equal Q K^T for DQK 128 (the kernel's).
std::string check_e2m1_k_fragments() {
  constexpr int DQK = 128, G = 16, T = 8, KROW = DQK / 2;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> q(size_t(G) * DQK);
  for (double& x : q) x = u(rng);
  std::vector<uint8_t> k(size_t(T) * KROW);  // 4-bit rows as stored: channel 2i low nibble of byte i
  for (auto& x : k) x = uint8_t(rng());
  auto k_value = [&](int t, int c) { return double(e2m1::to_float(uint8_t((k[size_t(t) * KROW + c / 2] >> (4 * (c % 2))) & 15))) / 64.0; };

  // Q at its k positions: every position once
  std::vector<double> qs(size_t(G) * DQK, NAN);
  for (int h = 0; h < G; ++h)
    for (int c = 0; c < DQK; ++c) {
      const int pos = e4m3_dev::e2m1_k_slot(c);
      if (pos < 0 || pos >= DQK || !std::isnan(qs[size_t(h) * DQK + pos])) return "e2m1_k_slot is not a permutation of the channels";
      qs[size_t(h) * DQK + pos] = q[size_t(h) * DQK + c];
    }

  // D[16][8] += A[16][32] B[32][8] per k-step, each element where the PTX ISA's layout puts it:
  // lane (g, t4) holds A rows g and g + 8 at k 4t4 + i and 16 + 4t4 + i, and B column g at the same k.
  double d[G][T] = {};
  for (int kk = 0; kk < DQK / 32; ++kk)
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane / 4, t4 = lane % 4;
      uint32_t words[4];
      std::memcpy(words, &k[size_t(g) * KROW + 16 * e4m3_dev::e2m1_k_unit(kk, t4)], 16);
      const e2m1::E4m3Pairs b = e2m1::to_e4m3_pairs(words[kk % 4]);
      for (int half = 0; half < 2; ++half)
        for (int i = 0; i < 4; ++i) {
          const int kpos = 32 * kk + 16 * half + 4 * t4 + i;
          const double bv = test::e4m3_value(uint8_t(((half ? b.odd : b.even) >> (8 * i)) & 0xFF));
          // this B element meets A's column kpos in every row; lane (g, t4) holds column g of B
          for (int row = 0; row < G; ++row) d[row][g] += qs[size_t(row) * DQK + kpos] * bv;
        }
    }
  for (int h = 0; h < G; ++h)
    for (int t = 0; t < T; ++t) {
      double want = 0;
      for (int c = 0; c < DQK; ++c) want += q[size_t(h) * DQK + c] * k_value(t, c);
      if (std::abs(d[h][t] - want) > 1e-12 * (1 + std::abs(want))) {
        std::ostringstream err;
        err << "head " << h << " token " << t << ": fragments give " << d[h][t] << ", Q K^T is " << want;
        return err.str();
      }
    }
  return "";
}

}  // namespace decodesim::gpu::detail
