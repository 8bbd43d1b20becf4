// gpu.hpp for the executable: the CUDA backend is a shared library opened on first use, so that
// the analytical commands never load the CUDA libraries (measured: 215 MB resident and 390 ms for `census`).
#include "gpu_loader/gpu_loader.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace decodesim::gpu {

namespace loader {

namespace fs = std::filesystem;

std::vector<std::string> candidates(const std::string& executable, const char* variable) {
  if (variable && *variable) return {variable};
  if (executable.empty()) return {};
  const fs::path dir = fs::path(executable).parent_path();
  return {(dir / kLibraryName).string(), (dir.parent_path() / "lib" / kLibraryName).string()};
}

Opened open(const std::string& path) {
  Opened o;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    std::string text = why ? why : "unknown error";
    std::replace(text.begin(), text.end(), '\n', ' ');
    o.error = "CUDA backend " + path + " could not be loaded: " + text;
    return o;
  }
  using Entry = const Backend* (*)();
  const auto entry = reinterpret_cast<Entry>(dlsym(handle, DECODESIM_GPU_ENTRY));
  if (!entry) {
    o.error = "CUDA backend " + path + " is not a decodesim backend (no " DECODESIM_GPU_ENTRY " symbol)";
  } else if (const Backend* b = entry(); !b || !b->interface_hash || std::strcmp(b->interface_hash, DECODESIM_GPU_INTERFACE) != 0) {
    o.error = "CUDA backend " + path + " was built from another gpu.hpp (interface " +
              (b && b->interface_hash ? b->interface_hash : "none") + ", this decodesim has " DECODESIM_GPU_INTERFACE
              "): rebuild it with this decodesim";
  } else {
    o.backend = b;
    return o;  // stays loaded for the life of the process
  }
  dlclose(handle);
  return o;
}

const Opened& backend() {
  static const Opened opened = [] {
    std::error_code ec;
    const std::string exe = fs::read_symlink("/proc/self/exe", ec).string();
    const char* variable = std::getenv(kLibraryVariable);
    const std::vector<std::string> paths = candidates(exe, variable);
    for (const std::string& p : paths)
      if (fs::exists(p, ec)) return open(p);
    Opened none;
    if (variable && *variable)
      none.error = std::string("CUDA backend not found: ") + kLibraryVariable + "=" + variable + " does not exist";
    else
      none.error = std::string("CUDA backend not built/installed: no ") + kLibraryName + " beside " + exe +
                   " or in ../lib (configure with -DDECODESIM_CUDA=ON where nvcc is installed, or set " + kLibraryVariable +
                   ")";
    return none;
  }();
  return opened;
}

}  // namespace loader

namespace {

// The backend's entry for one function; throws (one line) when there is no backend.
template <class F>
F entry(F Backend::*member, const char* name) {
  const loader::Opened& o = loader::backend();
  if (!o.backend) throw std::runtime_error(o.error);
  if (!(o.backend->*member)) throw std::runtime_error(std::string("CUDA backend lacks gpu::") + name);
  return o.backend->*member;
}

}  // namespace

bool available(std::string* why_not) {
  const loader::Opened& o = loader::backend();
  if (o.backend) return entry(&Backend::available, "available")(why_not);
  if (why_not) *why_not = o.error;
  return false;
}

#define DECODESIM_GPU_FORWARD(ret, name, params, args) \
  ret name params { return entry(&Backend::name, #name) args; }
DECODESIM_GPU_FUNCTIONS(DECODESIM_GPU_FORWARD)
#undef DECODESIM_GPU_FORWARD

}  // namespace decodesim::gpu
