// The calibration's sweep: which kernels `decodesim calibrate` measures for a set of models, in
// families that can be measured apart (a kernel change re-measures its own family, and a refit pools
// the run with the earlier one), and what each shape measures before any GPU runs it.
#pragma once
#include <string>
#include <vector>

#include "decodesim/calibration.hpp"
#include "decodesim/gpu.hpp"
#include "decodesim/model.hpp"
#include "decodesim/table.hpp"

namespace decodesim {

// decode: one query token per request (BF16 and FP8 caches, contiguous and paged); fp4: 4-bit
// caches; mtp: 2 and 4 query tokens; prefill: prompts, chunks and a batch of unequal prompts;
// gemm: the attention projections from decode batches to a prefill chunk's rows; moe: the routed
// experts, dense and as a served layer routes them; layer: one whole attention layer in a graph.
enum class SweepFamily { decode, fp4, mtp, prefill, gemm, moe, layer };
inline constexpr SweepFamily kSweepFamilies[] = {SweepFamily::decode, SweepFamily::fp4, SweepFamily::mtp, SweepFamily::prefill,
                                                 SweepFamily::gemm,   SweepFamily::moe, SweepFamily::layer};
const char* sweep_family_name(SweepFamily f);
bool has_family(const std::vector<SweepFamily>& families, SweepFamily f);

// The shapes of `families` for each model (quick: a small sweep for tests).
gpu::SweepPlan build_sweep_plan(const std::vector<Model>& models, bool quick, const std::vector<SweepFamily>& families);
// One shape per plan, each class in a fixed pseudo-random order and the classes taken in turn, so a
// sweep stopped by its time limit still covers every class and every size range.
std::vector<gpu::SweepPlan> one_shape_each(const gpu::SweepPlan& plan);

// One row per shape of the plan, in sweep order: its family, op class, dtype, label, FLOPs and
// bytes, and the time `fits` predicts where it has the class (-1 where not).
Table sweep_table(const std::vector<gpu::SweepPlan>& shapes, const Calibration* fits);

}  // namespace decodesim
