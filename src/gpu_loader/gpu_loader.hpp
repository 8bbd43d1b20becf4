// Finding and opening the CUDA backend library (src/gpu_loader/gpu_loader.cpp); the gpu.hpp
// functions of the executable forward to what it opens.
#pragma once
#include <string>
#include <vector>

#include "decodesim/gpu_backend.hpp"

namespace decodesim::gpu::loader {

inline constexpr const char* kLibraryName = "libdecodesim_cuda.so";
inline constexpr const char* kLibraryVariable = "DECODESIM_CUDA_LIBRARY";

struct Opened {
  const Backend* backend = nullptr;  // null: error says why, in one line
  std::string error;
};

// Where the library is looked for: the file named by DECODESIM_CUDA_LIBRARY when set (`variable`,
// null when unset), else beside the executable, then in ../lib (an installed tree).
std::vector<std::string> candidates(const std::string& executable, const char* variable);

// Opens one library file and checks that it is a backend built from this gpu.hpp.
Opened open(const std::string& path);

// The process's backend: the first candidate that exists, opened once on first use.
const Opened& backend();

}  // namespace decodesim::gpu::loader
