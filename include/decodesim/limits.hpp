// The range of every number a user can give, in a file or an option: what is physically
// meaningful with room to spare, so that no input wraps an integer, overflows a cast or asks
// for unbounded work. The loader, the option checks and the core read them from here alone.
//
// Largest published figures they are measured against (2025): Llama-3.1-405B (arXiv
// 2407.21783, Table 3): hidden 16,384, FFN 53,248, 126 layers, 128 query heads; DeepSeek-V3:
// 128 heads, 256 experts; Kimi-K2: 384 routed experts; Llama-4-Maverick: vocabulary 202,048;
// Llama-4-Scout: a 10M-token context. Chips: B200 4.5e15 FP8 FLOP/s and 8 TB/s, 180 GB.
#pragma once
#include <optional>
#include <string>

namespace decodesim::limits {

struct IntRange {  // both ends included
  long long lo, hi;
  bool contains(long long v) const { return v >= lo && v <= hi; }
};
struct Range {  // finite numbers, (lo, hi] when lo_open, else [lo, hi]
  double lo, hi;
  bool lo_open = true;
  bool contains(double v) const { return (lo_open ? v > lo : v >= lo) && v <= hi; }  // false for NaN
};
std::string to_string(IntRange r);  // "[1, 4096]"
std::string to_string(Range r);     // "(0, 1]"

// ---- Model shapes ----
inline constexpr IntRange kHiddenSize{1, 1 << 17};       // 8x Llama-3.1-405B's 16,384
inline constexpr IntRange kVocabSize{1, 1 << 24};        // 80x Llama-4's 202,048
inline constexpr IntRange kHeads{1, 1 << 12};            // query and KV heads: 32x DeepSeek-V3's 128
inline constexpr IntRange kHeadDim{1, 1 << 12};          // 16x the widest head (256, Step-3)
inline constexpr IntRange kLoraRank{0, 1 << 17};         // low-rank widths, up to the hidden bound; 0: full rank
inline constexpr IntRange kFfnWidth{1, 1 << 20};         // 20x Llama-3.1-405B's 53,248
inline constexpr IntRange kExperts{1, 1 << 16};          // routed experts: 170x Kimi-K2's 384
inline constexpr IntRange kTopK{1, 1 << 10};             // experts per token: 128x the usual 8
inline constexpr IntRange kSharedExperts{0, 1 << 10};
inline constexpr long long kMaxLayers = 1024;            // 8x Llama-3.1-405B's 126
inline constexpr IntRange kLayers{1, kMaxLayers};
inline constexpr IntRange kContextTokens{1, 1 << 30};    // contexts, windows and chunks: 100x a 10M context

// ---- Chips ----
inline constexpr Range kUsdPerHour{0.01, 1e4, false};    // a card-hour: a cent to 1000x today's rental prices
inline constexpr Range kFlopsPerSecond{1e9, 1e19, false};  // 1 GFLOP/s (no accelerator is slower) to 2000x B200
inline constexpr Range kBytesPerSecond{1e9, 1e17, false};  // memory, copy and link rates: 1 GB/s to 10,000x B200's HBM
inline constexpr Range kMemoryBytes{1e6, 1e15, false};     // 1 MB to 5,000x B200's 180 GB
inline constexpr IntRange kNicCount{1, 64};              // scale-out NICs per card (the report: 1)
inline constexpr Range kNicGbps{1, 1e5, false};          // per NIC: 1 Gb/s to 125x an 800 Gb/s NIC
inline constexpr Range kLinkLatencyUs{0, 1e6, false};     // a transfer's fixed cost, up to a second

// ---- Service level and network ----
inline constexpr Range kTpotMs{0.01, 1e6, false};        // 10 us (a few kernel launches) to 1000 s per token
inline constexpr IntRange kStages{1, 64};                // pipeline stages sharing the TPOT (the report: 3 or 4)
inline constexpr Range kFraction{1e-6, 1, false};        // NIC efficiency, MoE sparsity (1 of 65,536 experts is 1.5e-5)
inline constexpr IntRange kInstanceGpus{1, 1024};        // cards per FFN instance (the report: 8)
inline constexpr Range kTokens{1, 1 << 30, false};       // tokens per FFN micro-batch, requests in a batch
inline constexpr IntRange kInstances{1, 1024};           // xAyF instances of 8 GPUs, EP instances
inline constexpr IntRange kGpus{1, 8192};                // GPUs of one deployment: 1024 instances of 8
// Micro-batches in flight: at most one per stage task of a decode step (4 stages x layers);
// beyond that a micro-batch can only wait in a queue, and the event count grows without use.
inline constexpr long long kMicroBatchesPerLayer = 4;
inline constexpr IntRange kMicroBatches{1, kMicroBatchesPerLayer * kMaxLayers};
// Requests per attention GPU per micro-batch the batch search considers: memory sizes that
// would allow more are searched up to here.
inline constexpr long long kMaxRequestsPerGpu = 1 << 20;
inline constexpr IntRange kTopRows{1, 1000000};
// Deployment candidates one plan may search (each a batch search of a few simulations): about
// 20 s on two cores (measured: 4 x 4 chips at 4 contexts, 4,608 candidates, 0.44-0.48 s).
inline constexpr long long kMaxPlanCandidates = 200000;

// ---- Prefill ----
// Forwards one prompt may take in chunked prefill (one event simulation each): a 1M-token prompt
// in chunks of 256, about 0.5 s to time.
inline constexpr long long kMaxPrefillChunks = 4096;

// ---- Traffic ----
inline constexpr Range kRatePerSecond{1e-6, 1e6, false};  // requests per second
inline constexpr Range kSeconds{0, 1e7};                  // durations, warm-up, sampling, queueing: up to 115 days
// Requests one traffic run holds: the engine keeps about 80 bytes each, 1.6 GB at most. An hour
// at 500 requests/s is 1.8 million.
inline constexpr double kMaxRequests = 2e7;

// ---- Lists and files ----
inline constexpr long long kMaxListItems = 64;           // models or chips in one list
inline constexpr long long kMaxContexts = 1024;          // context lengths in one list or range
// Rows of one models x chips x contexts table (cost, budget): a table is built whole before it is
// written. The report's comparison has 24 rows; every shipped model on every chip at 1024
// contexts, 82,944 (measured: `budget` peaks at 202 MB for them).
inline constexpr long long kMaxTableRows = 1 << 17;
inline constexpr long long kMaxIdLength = 64;            // ids and type names: file names, not prose
inline constexpr long long kMaxInputBytes = 64 << 20;    // 500x the largest shipped file (a 125 KB calibration)
inline constexpr int kMaxJsonDepth = 32;                 // the schema nests 4 deep
inline constexpr long long kMaxMeasurements = 10000;     // samples to refit: 25x a full sweep (409); fit time grows with them

// ---- Calibration ----
inline constexpr Range kLaunchUs{0, 1e6};                // a fit's fixed cost per kernel, up to 1 s
inline constexpr Range kFitP{1, 64, false};              // the corner sharpness a fit may take (calibration.cpp)
inline constexpr IntRange kSampleCount{0, 1000000000};  // train and holdout samples of a fit
inline constexpr Range kKernelUs{1e-3, 1e12, false};     // one measured kernel: 1 ns to 11 days
inline constexpr Range kShape{0, 1e12, false};           // m, n, k of a measured kernel
inline constexpr Range kKernelWork{0, 1e24, false};      // FLOPs or bytes of one measured kernel
inline constexpr Range kRelativeError{0, 1e6, false};    // or -1: not measured

}  // namespace decodesim::limits

namespace decodesim {
// Decimal text in a range ("12"; "0.5", "1e3"): no sign on integers, no hex, inf or NaN.
// Empty when the text is not such a number or lies outside the range.
std::optional<long long> integer_in(const std::string& text, limits::IntRange r);
std::optional<double> number_in(const std::string& text, limits::Range r);
}  // namespace decodesim
