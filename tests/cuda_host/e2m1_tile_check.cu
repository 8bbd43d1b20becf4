// A 4-bit KV tile through the warpgroup kernel's own address and expansion code
// (src/cuda/attention_wg.cuh), on the host: copied into the ring as load_tile copies it, expanded as
// expand_e2m1_tile expands it, then read where the FP8 products read an e4m3 tile.
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cuda/attention_wg.cuh"
#include "../e4m3_reference.hpp"

namespace decodesim::gpu::detail {

namespace {

template <int TN>
std::string check_tile(int k_chunks, int v_chunks, unsigned seed) {
  const int chunks = k_chunks + v_chunks;
  const int k_values = 64 * k_chunks, v_values = 64 * v_chunks;
  std::mt19937 rng(seed);
  // the cache rows of one tile, K and V apart, two values a byte (value 2i in byte i's low nibble)
  std::vector<uint8_t> k_rows(size_t(TN) * k_values / 2), v_rows(size_t(TN) * v_values / 2);
  for (auto& x : k_rows) x = uint8_t(rng());
  for (auto& x : v_rows) x = uint8_t(rng());
  auto code = [&](int r, int d) {  // the tile's value d of row r: K's, then V's
    const bool k = d < k_values;
    const std::vector<uint8_t>& rows = k ? k_rows : v_rows;
    const int dd = k ? d : d - k_values, width = k ? k_values : v_values;
    return uint8_t((rows[size_t(r) * (width / 2) + dd / 2] >> (4 * (dd % 2))) & 15);
  };
  // load_tile (FP4): 16-byte units of K's rows from the tile's start, V's after K's chunks
  std::vector<uint8_t> ring(size_t(chunks) * TN * 32, 0);
  auto copy = [&](const std::vector<uint8_t>& rows, int units, size_t base) {
    for (int r = 0; r < TN; ++r)
      for (int cu = 0; cu < units; ++cu)
        std::memcpy(&ring[base + wg_dev::e2m1_unit_offset<TN>(r, cu)], &rows[size_t(r) * units * 16 + size_t(cu) * 16], 16);
  };
  copy(k_rows, k_values / 32, 0);
  copy(v_rows, v_values / 32, size_t(k_chunks) * TN * 32);
  // expand_e2m1_tile: every unit of the tile, as one warpgroup's threads take them
  std::vector<uint8_t> tile(size_t(chunks) * TN * 64, 0);
  for (int w = 0; w < chunks * TN * 2; ++w) {
    const int r = w % TN, u = w / TN;
    uint32_t x[4], first[4], second[4];
    std::memcpy(x, &ring[wg_dev::e2m1_unit_offset<TN>(r, u)], 16);
    wg_dev::expand_e2m1_unit(x, first, second);
    std::memcpy(&tile[wg_dev::e4m3_unit_offset<TN>(r, 2 * u)], first, 16);
    std::memcpy(&tile[wg_dev::e4m3_unit_offset<TN>(r, 2 * u + 1)], second, 16);
  }
  // where the FP8 kernel's copies put value d of row r (load_tile, e4m3: 64-column chunks of
  // 64-byte rows, 64-byte swizzle), and hence where its products read it
  for (int r = 0; r < TN; ++r)
    for (int d = 0; d < 64 * chunks; ++d) {
      const uint8_t got = tile[size_t(d / 64) * TN * 64 + wg::swz<64>(r, d % 64)];
      const double want = double(e2m1::to_float(code(r, d))) / 64.0;
      if (test::e4m3_value(got) != want) {
        std::ostringstream err;
        err << "TN " << TN << " chunks " << k_chunks << "+" << v_chunks << ": row " << r << " value " << d << " reads "
            << test::e4m3_value(got) << ", want " << want;
        return err.str();
      }
    }
  return "";
}

}  // namespace

// "" when every value of a 4-bit tile lands, exactly, where the FP8 products read it.
std::string check_e2m1_tiles() {
  for (const std::string& e : {check_tile<32>(4, 4, 1), check_tile<64>(4, 4, 2),  // MFA 256/256
                               check_tile<64>(2, 2, 3), check_tile<32>(2, 2, 4),  // GQA 128/128
                               check_tile<32>(9, 0, 5), check_tile<64>(9, 0, 6)})  // MLA's latent
    if (!e.empty()) return e;
  return "";
}

}  // namespace decodesim::gpu::detail
