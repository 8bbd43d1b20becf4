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
inline constexpr Range kExpertImbalance{1, 1e3, false};  // busiest GPU's routed load over the mean: 667x a heavy skew of 1.5
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
inline constexpr Range kMessagesPerSecond{1e3, 1e12, false};  // NIC message rate: 3,000x ConnectX-7's 330 M/s
inline constexpr IntRange kGpusPerNode{1, 1024};          // one NVLink domain: 14x an NVL72 rack
inline constexpr IntRange kSmCount{1, 4096};              // SMs of one chip: 31x H100 SXM5's 132
inline constexpr IntRange kAttentionTileRows{1, 1024};    // an MMA tile's M rows: 8x a 128-row two-warpgroup tile

// ---- Serving stack ----
inline constexpr Range kHostUs{0, 1e6, false};            // a step's host time or GPU gap: up to a second
inline constexpr Range kBytesPerLogit{0, 64, false};      // one sampler pass: 8x an FP32 read and write
inline constexpr size_t kMaxSamplerPasses = 64;

// ---- Service level and network ----
inline constexpr Range kTpotMs{0.01, 1e6, false};        // 10 us (a few kernel launches) to 1000 s per token
inline constexpr IntRange kStages{1, 64};                // pipeline stages sharing the TPOT (the report: 3 or 4)
inline constexpr Range kFraction{1e-6, 1, false};        // NIC efficiency, MoE sparsity (1 of 65,536 experts is 1.5e-5)
inline constexpr IntRange kInstanceGpus{1, 1024};        // cards per FFN instance (the report: 8)
inline constexpr Range kTokens{1, 1 << 30, false};       // tokens per FFN micro-batch, requests in a batch
inline constexpr IntRange kInstances{1, 1024};           // xAyF instances of 8 GPUs, EP instances
inline constexpr IntRange kGpus{1, 8192};                // GPUs of one deployment: 1024 instances of 8
// MTP draft tokens per step: DeepSeek-V3 ships one MTP module (one draft); an input bound, 16x that.
inline constexpr IntRange kMtpDraftTokens{0, 16};
inline constexpr Range kAcceptance{0, 1, false};  // a draft token's acceptance probability
// Micro-batches in flight: at most one per stage task of a decode step (4 stages x layers);
// beyond that a micro-batch can only wait in a queue, and the event count grows without use.
inline constexpr long long kMicroBatchesPerLayer = 4;
inline constexpr IntRange kMicroBatches{1, kMicroBatchesPerLayer * kMaxLayers};
// Tasks of one pipeline simulation (steps x layers x micro-batches x 4 stages), about 30 ns each:
// a batch search makes a dozen simulations and a traffic run's step grid several hundred, so
// 2^21 keeps a simulation near 60 ms and a traffic run under a minute. The shipped models at
// 4 micro-batches per layer stay under 2^18; a 1024-layer model may take 128 micro-batches.
inline constexpr long long kMaxPipelineTasks = 1 << 21;
// Pipeline tasks one `plan` or `simulate` may simulate in all, estimated before it starts from
// its searches (plan: 3 simulations a candidate; simulate: 20 a context, a batch search's worth)
// and the tasks of each. About 10 ns a task: 2.5e9 is under 30 s. kMaxPlanCandidates of a
// 61-layer model in up to 4 micro-batches is 2.3e9; a 1024-layer model gets a sixteenth of them.
inline constexpr double kMaxSimulatedTasks = 2.5e9;
// Requests per attention GPU per micro-batch the batch search considers: memory sizes that
// would allow more are searched up to here.
inline constexpr long long kMaxRequestsPerGpu = 1 << 20;
inline constexpr IntRange kTopRows{1, 1000000};
// Deployment candidates one plan may search (each a batch search of a few simulations): about
// 20 s on two cores (measured: 4 x 4 chips at 4 contexts, 4,608 candidates, 0.44-0.48 s).
inline constexpr long long kMaxPlanCandidates = 200000;
// Events of one `simulate --trace` timeline (4 steps x layers x micro-batches x 4 stages): each
// is about 190 bytes of JSON and 5 us to render, so 2^20 is 200 MB and 5 s. A 1024-layer model
// makes 16,384 per micro-batch; the shipped models at their serving schedules, under 4,000.
inline constexpr long long kMaxTraceEvents = 1 << 20;
// Results of one `layer` run (models x chips x contexts); its kernel table has about ten rows
// for each. 64 models x 64 chips x 4 contexts fits; 64 x 64 x 1024 (four million) would not.
inline constexpr long long kMaxLayerRows = 1 << 14;

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
// Spread of a lognormal length (`lognormal:MEAN:SIGMA`): measured prompt and output lengths have
// 0.5-2; at 10 the median is e^-50 of the mean. Beyond, sigma^2 overflows and the draws are NaN.
inline constexpr Range kLengthSigma{0, 10, false};
// Decode steps one traffic run may take, bounded before it starts by the run's duration over the
// deployment's fastest step (batch 1). The engine keeps 16 bytes per step and takes 0.1-1 us
// each: 1e7 is 160 MB and a few seconds. An hour of Step-3 2A2F on H800 is 133k steps.
inline constexpr double kMaxTrafficSteps = 1e7;
// Work of all the traffic runs of one `plan --rate/--trace` together: each run's bound on its
// decode steps (above) plus the requests of its share, summed over every replica count tried.
// 0.3-0.45 us each on two loaded cores (1e8 took 45 s), so 5e7 is 15-22 s; 28 runs of an hour at
// 500 requests/s (a 2-chip plan) are 4.2e7.
inline constexpr double kMaxPlanTrafficWork = 5e7;
// Copies of one deployment: `traffic --replicas`, and the replica counts `plan --rate` tries (each
// count is a traffic run). 1024 copies of the largest deployment is eight million GPUs.
inline constexpr IntRange kReplicas{1, 1024};

// ---- Lists and files ----
inline constexpr long long kMaxListItems = 64;           // models or chips in one list
inline constexpr long long kMaxContexts = 1024;          // context lengths in one list or range
// Rows of one models x chips x contexts table (cost, budget): a table is built whole before it is
// written. The report's comparison has 24 rows; every shipped model on every chip at 1024
// contexts, 82,944 (measured: `budget` peaks at 202 MB for them).
inline constexpr long long kMaxTableRows = 1 << 17;
inline constexpr long long kMaxIdLength = 64;            // ids and type names: file names, not prose
inline constexpr long long kMaxInputBytes = 64 << 20;    // 500x the largest shipped file (a 125 KB calibration)
// A request trace (CSV): kMaxRequests lines of up to 50 bytes. Read line by line, never whole.
inline constexpr long long kMaxTraceBytes = 1LL << 30;
// Contexts of a scenario with plots: one cost figure per context, four files each (data, script,
// PNG, SVG) and 30-40 ms of gnuplot. The shipped scenarios have 2 and 8.
inline constexpr long long kMaxPlotContexts = 32;
inline constexpr int kMaxJsonDepth = 32;                 // the schema nests 4 deep
inline constexpr long long kMaxMeasurements = 10000;     // samples to refit: 25x a full sweep (409); fit time grows with them

// ---- Calibration ----
// A fit's fixed cost per kernel: at most the longest kernel a fit may be given (kKernelUs), and 0
// where the fit finds none, so that whatever `calibrate --refit` fits, the loader reads back.
inline constexpr Range kLaunchUs{0, 1e12, false};
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
