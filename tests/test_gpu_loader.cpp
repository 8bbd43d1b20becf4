// The CUDA backend as a library opened on first use: where it is looked for, what is refused.
#include "helpers.hpp"

#include "gpu_loader/gpu_loader.hpp"

namespace loader = decodesim::gpu::loader;
using test::lines;

TEST_CASE("the backend is looked for beside the executable, then in ../lib, unless a variable names it", "[gpu_loader]") {
  CHECK(loader::candidates("/opt/ds/bin/decodesim", nullptr) ==
        std::vector<std::string>{"/opt/ds/bin/libdecodesim_cuda.so", "/opt/ds/lib/libdecodesim_cuda.so"});
  CHECK(loader::candidates("/opt/ds/bin/decodesim", "") == loader::candidates("/opt/ds/bin/decodesim", nullptr));
  CHECK(loader::candidates("/opt/ds/bin/decodesim", "/x/libmine.so") == std::vector<std::string>{"/x/libmine.so"});
  CHECK(loader::candidates("", nullptr).empty());
}

TEST_CASE("what is not a backend of this build is refused in one line", "[gpu_loader]") {
  const std::pair<std::string, std::string> cases[] = {
      {"/nonexistent/libdecodesim_cuda.so", "could not be loaded"},
      {(test::source_dir() / "models/step3.json").string(), "could not be loaded"},
      {"libc.so.6", "is not a decodesim backend"},
      {DECODESIM_STALE_BACKEND, "was built from another gpu.hpp (interface 0000000000000000"},
  };
  for (const auto& [path, expect] : cases) {
    INFO(path);
    const loader::Opened o = loader::open(path);
    CHECK(o.backend == nullptr);
    CHECK_THAT(o.error, Catch::Contains(path) && Catch::Contains(expect));
    CHECK(lines(o.error) == 0);
  }
}

TEST_CASE("a backend of this build is opened and its table used", "[gpu_loader]") {
  const loader::Opened fake = loader::open(DECODESIM_FAKE_BACKEND);
  REQUIRE(fake.backend != nullptr);
  CHECK(fake.error.empty());
  std::string why;
  CHECK_FALSE(fake.backend->available(&why));
  CHECK(why == "fake backend: no device");
  CHECK(fake.backend->measure_copy == nullptr);
#ifdef DECODESIM_CUDA_BACKEND
  // The real library: every entry present; without a GPU it loads and says why it cannot measure.
  const loader::Opened cuda = loader::open(DECODESIM_CUDA_BACKEND);
  INFO(cuda.error);
  REQUIRE(cuda.backend != nullptr);
  CHECK(cuda.backend->available != nullptr);
#define DECODESIM_GPU_PRESENT(ret, name, params, args) CHECK(cuda.backend->name != nullptr);
  DECODESIM_GPU_FUNCTIONS(DECODESIM_GPU_PRESENT)
#undef DECODESIM_GPU_PRESENT
  std::string cuda_why;
  if (!cuda.backend->available(&cuda_why)) CHECK_FALSE(cuda_why.empty());
#endif
}
