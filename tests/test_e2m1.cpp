// The 4-bit KV cache's format and the expansion the attention kernels run (src/cuda/e2m1.hpp), on
// the host: the same code the kernels compile, so the expansion's exactness is checked without a GPU.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "cuda/e2m1.hpp"
#include "e4m3_reference.hpp"

namespace e2m1 = decodesim::gpu::e2m1;

namespace {

// The eight values of a packed word by the usual packing (value 2i: low nibble of byte i).
std::vector<float> unpack(uint32_t w) {
  std::vector<float> v;
  for (int i = 0; i < 8; ++i) v.push_back(e2m1::to_float(uint8_t(w >> (4 * i))));
  return v;
}

void check_word(uint32_t w) {
  const e2m1::E4m3x8 x = e2m1::to_e4m3x8(w);
  const std::vector<float> want = unpack(w);
  for (int i = 0; i < 8; ++i) {
    const uint8_t byte = uint8_t((i < 4 ? x.lo : x.hi) >> (8 * (i % 4)));
    INFO("word " << w << " value " << i);
    REQUIRE(test::e4m3_value(byte) == double(want[size_t(i)]) * e2m1::kE4m3Factor);
    REQUIRE(std::signbit(test::e4m3_value(byte)) == std::signbit(want[size_t(i)]));  // -0 stays -0
  }
}

}  // namespace

TEST_CASE("e2m1 codes are the OCP FP4 values", "[e2m1]") {
  const float want[8] = {0.f, 0.5f, 1.f, 1.5f, 2.f, 3.f, 4.f, 6.f};
  for (int c = 0; c < 8; ++c) {
    CHECK(e2m1::to_float(uint8_t(c)) == want[c]);
    CHECK(e2m1::to_float(uint8_t(c | 8)) == -want[c]);
    CHECK(e2m1::to_float(uint8_t(c | 0xF0)) == want[c]);  // the high nibble is not this code's
  }
}

TEST_CASE("the e2m1 -> e4m3 expansion is exact, in value order", "[e2m1]") {
  // every code in every position: all 16-bit patterns in each half of the word
  for (uint32_t x = 0; x < 65536; ++x) {
    check_word(x);
    check_word(x << 16);
    check_word(x | (x << 16));
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 100000; ++i) check_word(uint32_t(rng()));
}

TEST_CASE("the host byte permute is PRMT's default mode", "[e2m1]") {
  CHECK(e2m1::byte_perm(0x33221100u, 0x77665544u, 0x3210) == 0x33221100u);
  CHECK(e2m1::byte_perm(0x33221100u, 0x77665544u, 0x7654) == 0x77665544u);
  CHECK(e2m1::byte_perm(0x33221100u, 0x77665544u, 0x5140) == 0x55114400u);
  CHECK(e2m1::byte_perm(0x33221100u, 0x77665544u, 0x7362) == 0x77336622u);
}
