// HeadBlock's index arithmetic (src/cuda/attention.cuh) run on the host: which packed Q/output row
// and which causal limit each row of each head block gets, for uniform and variable-length batches.
#include <sstream>
#include <string>
#include <vector>

#include "cuda/attention.cuh"

namespace decodesim::gpu::detail {

// "" when every (request, query token, query head) row of every KV head is owned by exactly one
// head block row, at its packed index, with limit context_b - (q_b - 1 - t); else what went wrong.
// ctx[b], q[b]: request b's context and query tokens; G: rows per head block.
std::string check_head_blocks(const std::vector<int>& ctx, const std::vector<int>& q, int q_heads, int kv_heads, int G, bool varlen) {
  const int B = int(ctx.size()), q_group = q_heads / kv_heads;
  std::vector<int> q_start(size_t(B) + 1, 0);
  int q_max = 0, c_max = 0;
  for (int b = 0; b < B; ++b) q_start[size_t(b) + 1] = q_start[size_t(b)] + q[size_t(b)], q_max = std::max(q_max, q[size_t(b)]),
                              c_max = std::max(c_max, ctx[size_t(b)]);
  AttnParams p{};
  p.q_heads = q_heads, p.kv_heads = kv_heads, p.q_group = q_group, p.batch = B;
  p.q_tokens = q_max, p.context = c_max, p.group = q_group * q_max;
  p.head_blocks = (p.group + G - 1) / G;
  if (varlen) p.ctx_lens = ctx.data(), p.q_start = q_start.data();
  std::vector<int> seen(size_t(q_start.back()) * q_heads, 0);
  std::ostringstream err;
  for (int b = 0; b < B; ++b)
    for (int kvh = 0; kvh < kv_heads; ++kvh)
      for (int hb = 0; hb < p.head_blocks; ++hb) {
        const HeadBlock<true> blk(p, G, hb, kvh, b);
        for (int r = 0; r < blk.n_rows; ++r) {
          const long long row = blk.row(p, r);
          if (row < 0 || row >= (long long)seen.size()) {
            err << "b " << b << " kvh " << kvh << " hb " << hb << " r " << r << ": row " << row << " outside the packed rows";
            return err.str();
          }
          ++seen[size_t(row)];
          // the row's query token and head from its packed index
          const long long tok = row / q_heads - q_start[size_t(b)];
          const int head = int(row % q_heads);
          const int want_limit = ctx[size_t(b)] - (q[size_t(b)] - 1 - int(tok));
          if (tok < 0 || tok >= q[size_t(b)] || head / q_group != kvh || blk.limit(p, r, 1 << 30) != want_limit) {
            err << "b " << b << " kvh " << kvh << " hb " << hb << " r " << r << ": token " << tok << " head " << head << " limit "
                << blk.limit(p, r, 1 << 30) << " (want " << want_limit << ")";
            return err.str();
          }
        }
      }
  for (size_t i = 0; i < seen.size(); ++i)
    if (seen[i] != 1) {
      err << "packed row " << i << " owned " << seen[i] << " times";
      return err.str();
    }
  return "";
}

}  // namespace decodesim::gpu::detail
