// The CUDA kernels' host-checkable logic, run on any machine (no GPU needed): HeadBlock's rows and
// causal limits for uniform and variable-length batches; a 4-bit tile's copies and expansion; the
// warp-split kernel's 4-bit K fragments against Q's k order.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace decodesim::gpu::detail {
std::string check_head_blocks(const std::vector<int>& ctx, const std::vector<int>& q, int q_heads, int kv_heads, int G, bool varlen);
std::string check_e2m1_tiles();
std::string check_e2m1_k_fragments();
}
using decodesim::gpu::detail::check_e2m1_k_fragments;
using decodesim::gpu::detail::check_e2m1_tiles;
using decodesim::gpu::detail::check_head_blocks;

TEST_CASE("head blocks own every query row once, at its causal limit", "[cuda][attention]") {
  // uniform: MTP (2 tokens, MFA 64 heads), GQA with 16 heads per KV head (4 tokens in a 64-row block)
  CHECK(check_head_blocks({1000, 1000, 1000}, {2, 2, 2}, 64, 1, 64, false) == "");
  CHECK(check_head_blocks({333, 333}, {3, 3}, 64, 4, 64, false) == "");
  CHECK(check_head_blocks({129, 129}, {4, 4}, 40, 8, 16, false) == "");
  // variable length: prompts of unequal length, chunks after unequal prefixes (query tokens capped
  // by the context), head blocks of 64 and 16 rows
  CHECK(check_head_blocks({300, 37, 129}, {300, 37, 129}, 64, 4, 64, true) == "");
  CHECK(check_head_blocks({65, 200}, {65, 200}, 64, 1, 64, true) == "");
  CHECK(check_head_blocks({700, 120, 50}, {50, 50, 50}, 64, 8, 16, true) == "");
  CHECK(check_head_blocks({1, 17, 5}, {1, 17, 5}, 16, 16, 64, true) == "");
  // the rows kernel's 128-row blocks (two query tokens of MFA's 64 heads in one block)
  CHECK(check_head_blocks({1000, 1000}, {2, 2}, 64, 1, 128, false) == "");
  CHECK(check_head_blocks({515, 515}, {4, 4}, 64, 1, 128, false) == "");
  CHECK(check_head_blocks({300, 37, 129}, {300, 37, 129}, 64, 4, 128, true) == "");
  CHECK(check_head_blocks({100, 257}, {100, 257}, 16, 16, 128, true) == "");
}

TEST_CASE("the check finds a wrong packing", "[cuda][attention]") {
  // the same batch read as uniform (every request at the longest) claims rows past the packed ones
  CHECK(check_head_blocks({300, 37, 129}, {300, 37, 129}, 64, 4, 64, false) != "");
}

TEST_CASE("a 4-bit tile's values land where the FP8 products read them", "[cuda][attention][fp4]") {
  CHECK(check_e2m1_tiles() == "");  // MFA, GQA and MLA widths, 32- and 64-token tiles
}

TEST_CASE("the warp-split kernel's 4-bit K fragments meet Q in its k order: Q K^T exactly", "[cuda][attention][fp4]") {
  CHECK(check_e2m1_k_fragments() == "");
}
