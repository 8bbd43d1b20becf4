// A pipeline timeline as Chrome trace events (Perfetto, chrome://tracing): the simulated one
// from `simulate --trace`, or a measured one filled into the same Timeline, so the two open
// side by side. Format: docs/schema.md, "Timeline".
#pragma once
#include <string>

#include "decodesim/pipeline.hpp"

namespace decodesim {

// {"traceEvents": [...]}: one complete ("X") event per task, named "attention L3 mb1", with
// ts and dur in microseconds, pid = resource index + 1, tid = micro-batch; "M" metadata events
// name each process after its resource and each thread after its micro-batch.
std::string chrome_trace_json(const Timeline& t);

}  // namespace decodesim
