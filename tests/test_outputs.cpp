// Outputs written safely, inputs that cannot block, work bounded before it starts, and what
// decodesim writes read back by its own loader. Each case names the hostile input it stands for.
#include "helpers.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>

#include <fmt/format.h>

#include "decodesim/calibration.hpp"
#include "decodesim/hf_import.hpp"
#include "decodesim/trace.hpp"
#include "decodesim/traffic.hpp"
#include "decodesim/writers.hpp"

using namespace decodesim;
namespace fs = std::filesystem;

namespace {

// The names in a folder, links included (not followed).
std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

std::string refusal_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    CHECK(msg.find('\n') == std::string::npos);
    return msg;
  }
  FAIL("accepted");
  return {};
}

struct Timed {
  int code = -1;
  std::string out, err;
  double seconds = 0;
};

// The binary with these arguments in `cwd`, killed after 20 s (exit 124): an input that blocks
// or runs unbounded fails the test instead of hanging it.
Timed run_timed(const std::string& args, const fs::path& cwd) {
  test::TempDir io;
  const std::string cmd = "cd '" + cwd.string() + "' && timeout -k 2 20 '" + std::string(DECODESIM_BINARY) + "' " + args + " >'" +
                          (io.path / "out").string() + "' 2>'" + (io.path / "err").string() + "' </dev/null";
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system(cmd.c_str());
  Timed r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = test::read_file(io.path / "out");
  r.err = test::read_file(io.path / "err");
  return r;
}

// Bad input: exit 2 within 20 s, one line on stderr containing `expect`, nothing on stdout.
void check_refused(const std::string& args, const std::string& expect, const fs::path& cwd) {
  INFO(args);
  const Timed r = run_timed(args, cwd);
  CHECK(r.code == 2);
  CHECK(test::lines(r.err) == 1);
  CHECK_THAT(r.err, Catch::Contains(expect));
  CHECK(r.out.empty());
  CHECK(r.seconds < 20);
}

}  // namespace

TEST_CASE("outputs: a planted NAME.partial link is never written through, a link at a final name is replaced", "[outputs]") {
  test::TempDir d;
  const fs::path out = d.path / "out";
  fs::create_directories(out);
  const fs::path victim = d.write("victim", "keep"), other = d.write("other", "keep too");
  fs::create_symlink(victim, out / "census.txt.partial");
  fs::create_symlink(other, out / "a.csv");
  write_files(out, {{"census.txt", "new"}, {"a.csv", "x"}});
  CHECK(test::read_file(victim) == "keep");
  CHECK(test::read_file(other) == "keep too");
  CHECK(test::read_file(out / "census.txt") == "new");
  CHECK(fs::is_regular_file(fs::symlink_status(out / "a.csv")));
  CHECK(test::read_file(out / "a.csv") == "x");
  // Nothing else is left: the planted link stays (it is not ours), no temporary remains.
  CHECK(names_in(out) == std::set<std::string>{"census.txt", "census.txt.partial", "a.csv"});
}

TEST_CASE("outputs: one file by two spellings is refused before anything is written", "[outputs]") {
  test::TempDir d;
  fs::create_directories(d.path / "D");
  fs::create_directory_symlink(d.path / "D", d.path / "L");
  const fs::path x = d.path / "D/x.csv";
  for (const fs::path& other : {d.path / "D/../D/x.csv", d.path / "./D/x.csv", d.path / "L/x.csv", d.path / "L/../D/sub/../x.csv"}) {
    INFO(other);
    CHECK_THAT(refusal_of([&] { write_files({}, {{x, "1"}, {other, "2"}}); }), Catch::Contains("two outputs of this name"));
    CHECK(names_in(d.path / "D").empty());
  }
  // Through the command line, from the folder: --trace naming an --out file, calibrate --out naming a --csv file.
  const std::string shipped = (test::source_dir() / "hardware/calibrated/h100.json").string();
  const std::string sim = "simulate --model step3 --hardware h800 --batch 64 --timing roofline --format csv --out D ";
  for (const std::string& trace :
       std::vector<std::string>{"./D/simulate.csv", "D/../D/simulate.csv", (d.path / "D/simulate.csv").string(), "L/simulate.csv"})
    check_refused(sim + "--trace '" + trace + "'", "two outputs of this name", d.path);
  // gnuplot's figures count too: they are written after the files, beside their scripts.
  for (const std::string json :
       {"./D/calibration_fits.csv", "L/calibration_fits.csv", "./D/calibration-roofline.png", "L/calibration-roofline.svg"})
    check_refused("calibrate --refit '" + shipped + "' --csv D --out '" + json + "'", "two outputs of this name", d.path);
  CHECK(names_in(d.path / "D").empty());
  // Distinct files are written, the trace beside the tables.
  const Timed ok = run_timed(sim + "--trace D/timeline.json", d.path);
  CHECK(ok.code == 0);
  CHECK(names_in(d.path / "D") == std::set<std::string>{"simulate.csv", "simulate_stages.csv", "timeline.json"});
}

TEST_CASE("outputs: every final name is checked before the first rename; a failure leaves nothing new", "[outputs]") {
  test::TempDir d;
  const fs::path out = d.path / "out";
  fs::create_directories(out / "b.csv");  // a folder where the second file is to go
  std::ofstream(out / "a.csv") << "old";
  CHECK_THAT(refusal_of([&] { write_files(out, {{"a.csv", "new"}, {"b.csv", "x"}}); }),
             Catch::Contains("b.csv: cannot write file: a folder of this name is in the way"));
  CHECK(test::read_file(out / "a.csv") == "old");
  CHECK(names_in(out) == std::set<std::string>{"a.csv", "b.csv"});
  // Folders made for the first file go too.
  CHECK_THROWS_AS(write_files(out, {{"new/deeper/c.csv", "1"}, {"b.csv", "x"}}), InputError);
  CHECK(names_in(out) == std::set<std::string>{"a.csv", "b.csv"});
  // A FIFO at a final name is not opened (that would block) nor replaced.
  REQUIRE(::mkfifo((out / "f.csv").c_str(), 0600) == 0);
  CHECK_THAT(refusal_of([&] { write_files(out, {{"a.csv", "new"}, {"f.csv", "x"}}); }),
             Catch::Contains("something other than a file is in the way"));
  CHECK(test::read_file(out / "a.csv") == "old");
  // A path through a file.
  CHECK_THAT(refusal_of([&] { write_files(out, {{"a.csv/c.csv", "x"}}); }), Catch::Contains("a file is in the way"));
  // The success path replaces the old content and leaves no temporary; the result is as readable
  // as any file the user makes (its temporary was private).
  const mode_t mask = ::umask(022);
  write_files(out, {{"a.csv", "new"}, {"c.csv", "c"}});
  ::umask(mask);
  CHECK(test::read_file(out / "a.csv") == "new");
  CHECK((fs::status(out / "c.csv").permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read));
  CHECK(names_in(out) == std::set<std::string>{"a.csv", "b.csv", "c.csv", "f.csv"});
}

TEST_CASE("a scenario's output folder stays under the current folder", "[outputs][loader]") {
  test::TempDir d;
  const std::string base = R"({"name": "t", "models": ["step3"], "hardware": ["h800"], "contexts": [8192], "analyses": ["census"],
      "output": {"dir": "DIR"}})";
  auto with_dir = [&](const std::string& dir) { return test::replace(base, "DIR", dir); };
  for (const std::string bad : {"/tmp/elsewhere", "../elsewhere", "out/../../elsewhere", ".."}) {
    INFO(bad);
    CHECK_THAT(refusal_of([&] { parse_scenario(with_dir(bad), "s.json"); }),
               Catch::Contains("s.json: $.output.dir: expected a relative folder without '..'"));
  }
  CHECK(parse_scenario(with_dir("out/mine"), "s.json").out_dir == "out/mine");
  // End to end: nothing is written above the current folder; --out, the user's own, may go anywhere.
  fs::create_directories(d.path / "work");
  const fs::path s = d.write("work/s.json", with_dir("../escaped"));
  check_refused("run s.json", "$.output.dir", d.path / "work");
  CHECK_FALSE(fs::exists(d.path / "escaped"));
  d.write("work/good.json", with_dir("mine"));
  CHECK(run_timed("run good.json --out ../chosen", d.path / "work").code == 0);
  CHECK(fs::exists(d.path / "chosen/census.txt"));
}

TEST_CASE("special files are refused as inputs before open() can block or a read run forever", "[outputs][hostile]") {
  test::TempDir d;
  REQUIRE(::mkfifo((d.path / "fifo.csv").c_str(), 0600) == 0);
  REQUIRE(::mkfifo((d.path / "fifo.json").c_str(), 0600) == 0);
  fs::create_directories(d.path / "folder.csv");
  const std::string traffic = "traffic --model step3 --hardware h800 --timing roofline ";
  check_refused(traffic + "--trace fifo.csv", "fifo.csv: cannot read file: a pipe (FIFO), not a regular file", d.path);
  check_refused(traffic + "--trace /dev/zero", "/dev/zero: cannot read file: a character device", d.path);
  check_refused(traffic + "--trace folder.csv", "folder.csv: cannot read file: a folder", d.path);
  check_refused("census --model ./fifo.json", "fifo.json: cannot read file: a pipe (FIFO)", d.path);
  check_refused("run fifo.json", "fifo.json: cannot read file: a pipe (FIFO)", d.path);
  check_refused("cost --calibration /dev/zero", "/dev/zero: cannot read file: a character device", d.path);
  check_refused("calibrate --refit fifo.json --out x.json", "fifo.json: cannot read file", d.path);
  // A link to a special file is the special file.
  fs::create_symlink("/dev/zero", d.path / "zero.csv");
  check_refused(traffic + "--trace zero.csv", "zero.csv: cannot read file: a character device", d.path);
  CHECK_THROWS_WITH(load_trace("/dev/null"), Catch::Contains("a character device"));
  CHECK_THROWS_WITH(load_served_runs((d.path / "fifo.csv").string()), Catch::Contains("a pipe (FIFO)"));
}

TEST_CASE("work that multiplies is refused, naming the option and its bound, before it starts", "[outputs][hostile]") {
  test::TempDir d;
  // A 1024-layer model: a trace of 100 micro-batches would be 1.6 M events, 300 MB.
  std::string deep = test::read_file(test::source_dir() / "models/step3.json");
  deep = test::replace(deep, "\"id\": \"step3\"", "\"id\": \"deep\"");
  deep = test::replace(deep, "{\"type\": \"mfa\", \"count\": 61}", "{\"type\": \"mfa\", \"count\": 1024}");
  deep = test::replace(deep, "{\"type\": \"moe\", \"count\": 56}", "{\"type\": \"moe\", \"count\": 1019}");
  d.write("deep.json", deep);
  const std::pair<std::string, std::string> cases[] = {
      // 3e8 decode steps at batch 1 used to run for hours.
      {"traffic --model step3 --hardware h800 --timing roofline --rate 1 --duration 1e7",
       "--duration: 10000000 s may take up to"},
      {"plan --model step3 --hardware h800 --timing roofline --rate 1 --duration 1e6", "more than the 1e+07 one traffic run may take"},
      // A demand no deployment can serve with 1024 replicas (the count used to overflow an int).
      {"plan --model step3 --hardware h800 --timing roofline --rate 100000 --output-tokens 100000 --duration 10",
       "--rate: the demand"},
      {"simulate --model ./deep.json --hardware h800 --timing roofline --micro-batches 100 --batch 6400 --trace t.json",
       "--trace: 1024 layers x 100 micro-batches x 4 steps x 4 stages is 1638400 events, more than the 1048576"},
      {"layer --model step3,deepseek-v3,kimi-k2,qwen3-235b-a22b,qwen3-32b,llama4-maverick,minimax-m1,ernie4.5-300b-a47b,"
       "pangu-pro-moe-72b --hardware h800,h20 --context 1:1024:+1",
       "layer: 9 models x 2 chips x 1024 contexts is 18432 rows, more than the 16384"},
      {"traffic --rate 1 --replicas 1025", "--replicas: expected an integer in [1, 1024]"},
      // A plan or a simulate over a deep model: the candidate bound alone assumed 61 layers.
      {"plan --model ./deep.json --hardware h800,h20 --micro-batches-search 1..16 --timing roofline",
       "simulated tasks, more than the 2.5e+09 one plan may take"},
      {"plan --model ./deep.json --hardware h800,h20 --micro-batches-search 1..16 --timing roofline --rate 1",
       "simulated tasks, more than the 2.5e+09 one plan may take"},
      {"simulate --model ./deep.json --hardware h800 --timing roofline --micro-batches 128 --context 1:1024:+1",
       "--context: 1024 contexts of 1024 layers in 128 micro-batches"},
      // 67 M tasks per simulation, hundreds of simulations: it used to run for minutes.
      {"simulate --model ./deep.json --hardware h800 --timing roofline --micro-batches 4096",
       "4 steps x 1024 layers x 4096 micro-batches x 4 stages is 67108864 tasks per simulation, more than the 2097152"},
  };
  for (const auto& [args, expect] : cases) check_refused(args + " --out res", expect, d.path);
  CHECK_FALSE(fs::exists(d.path / "res"));
  CHECK_FALSE(fs::exists(d.path / "t.json"));

  // A scenario with plots over 33 contexts (it used to write 4 files for each).
  d.write("plots.json", R"({"name": "p", "models": ["step3"], "hardware": ["h800"], "contexts": {"from": 1024, "to": 33792, "step": 1024},
      "analyses": ["cost", "plots"], "output": {"dir": "res"}})");
  check_refused("run plots.json", "$.contexts: expected at most 32 context lengths with \"plots\"", d.path);
  // A scenario's plan of the 1024-layer model over 16 contexts: 2.7e9 simulated tasks.
  d.write("plan.json", R"({"name": "p", "models": ["deep.json"], "hardware": ["h800", "h20", "a800", "ascend-910b"],
      "contexts": {"from": 1024, "to": 16384, "step": 1024}, "analyses": ["plan"], "output": {"dir": "res"}})");
  check_refused("run plan.json", "simulated tasks, more than the 2.5e+09 one plan may take", d.path);
  CHECK_FALSE(fs::exists(d.path / "res"));
}

TEST_CASE("a lognormal spread that overflows is refused; the sampler never casts NaN", "[outputs][hostile][traffic]") {
  test::TempDir d;
  for (const char* option : {"--input-tokens", "--output-tokens"})
    check_refused(fmt::format("traffic --model step3 --hardware h800 --timing roofline --rate 1 {} lognormal:100:1e308", option),
                  fmt::format("{}: 'lognormal:100:1e308': expected", option), d.path);
  CHECK_THROWS_WITH(parse_length_dist("lognormal:100:10.5", "--input-tokens"), Catch::Contains("SIGMA in [0, 10]"));
  CHECK_NOTHROW(parse_length_dist("lognormal:1e9:10", "--input-tokens"));
  // Built without the parser: the draw is NaN, the token count 1.
  LengthDist wild;
  wild.kind = LengthDist::Kind::lognormal, wild.a = 100, wild.b = 1e308;
  const std::vector<Request> rs = poisson_requests(100, 1, wild, wild, 1);
  REQUIRE_FALSE(rs.empty());
  for (const Request& r : rs) CHECK((r.input_tokens >= 1 && r.input_tokens <= 1000000000));
}

TEST_CASE("what import writes, the loader reads back, whatever the config's path holds", "[outputs][hf]") {
  test::TempDir d;
  const fs::path folder = d.path / "odd\tname\x1b[2J";
  fs::create_directories(folder);
  fs::copy_file(test::source_dir() / "tests/hf/step3/config.json", folder / "config.json");
  const Timed r = run_timed("import '" + folder.string() + "' --out models/odd.json", d.path);
  REQUIRE(r.code == 0);
  CHECK_NOTHROW(load_model((d.path / "models/odd.json").string()));
  const Timed census = run_timed("census --model models/odd.json --format csv", d.path);
  CHECK(census.code == 0);
  // In the library: the source names the path escaped, and a path of thousands of bytes is cut.
  HfImportOptions opts;
  opts.id = "odd";
  const Model back = parse_model(model_description_json(load_hf_config((folder / "config.json").string(), opts)), "models/odd.json");
  CHECK_THAT(back.source, Catch::Contains("odd\\tname\\x1b[2J"));
  fs::path deep = d.path;
  for (int i = 0; i < 18; ++i) deep /= std::string(200, 'a' + i % 26);  // 3,600 bytes: under PATH_MAX, over a string's 4,096 with the rest
  fs::create_directories(deep);
  fs::copy_file(folder / "config.json", deep / "config.json");
  CHECK_NOTHROW(parse_model(model_description_json(load_hf_config((deep / "config.json").string(), opts)), "models/odd.json"));
}

TEST_CASE("what calibrate --refit writes, the loader reads back", "[outputs][calibration]") {
  test::TempDir d;
  // Two runs of one chip, one without an FP8 ceiling (it used to average into 5e8, below the
  // loader's 1e9), and kernels whose fixed cost is 50 s (it used to be written as launch_us 5e7).
  auto run_file = [&](const std::string& name, bool fp8) {
    nlohmann::json j = {{"hardware", "h100"}, {"device", "H100"}, {"copy_bytes_per_s", 3e12}, {"gemm_bf16_flops_per_s", 7e14}};
    if (fp8) j["gemm_fp8_flops_per_s"] = 1e9;
    j["fits"] = nlohmann::json::array();
    nlohmann::json ms = nlohmann::json::array();
    for (int i = 0; i < 12; ++i) {
      const double flops = 1e6 * (i + 1), bytes = 1e5 * (i + 1);
      ms.push_back({{"op_class", "gemm"}, {"dtype", "bf16"}, {"label", fmt::format("g{}", i)}, {"m", 1}, {"n", 1}, {"k", 1},
                    {"flops", flops}, {"bytes", bytes}, {"time_us", 5e7 + i}, {"rel_error", -1}});
    }
    j["measurements"] = ms;
    // A fits-free file would be refused before the refit: one fit of its own.
    j["fits"].push_back({{"op_class", "gemm"}, {"dtype", "bf16"}, {"launch_us", 3}, {"bytes_per_s", 3e12}, {"flops_per_s", 7e14},
                         {"p", 2}, {"train_samples", 12}, {"holdout_samples", 0}, {"train_median_error", 0.01},
                         {"holdout_median_error", -1}});
    return d.write(name, j.dump()).string();
  };
  const std::string a = run_file("a.json", true), b = run_file("b.json", false);
  const Timed r = run_timed("calibrate --refit '" + a + "," + b + "' --out refit.json", d.path);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const Calibration c = load_calibration((d.path / "refit.json").string());
  CHECK(c.gemm_fp8_flops_per_s == 1e9);
  REQUIRE(c.find("gemm", "bf16"));
  CHECK(c.find("gemm", "bf16")->launch_us > 1e6);
}

TEST_CASE("traffic says so when nothing was decoded in the measured window", "[outputs][traffic]") {
  test::TempDir d;
  // Two requests at the start, done long before the 50 s warm-up ends.
  d.write("early.csv", "0,100,10\n1,100,10\n");
  const std::string args = "traffic --model step3 --hardware h800 --timing roofline --deployment 1A1F --trace early.csv --duration 100 "
                           "--warmup-s 50";
  const Timed r = run_timed(args + " --format csv", d.path);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(test::lines(r.err) == 1);
  CHECK_THAT(r.err, Catch::Contains("No token was decoded in the measured window"));
  const Timed table = run_timed(args, d.path);
  REQUIRE(table.code == 0);
  CHECK_THAT(table.out, Catch::Contains("No token was decoded in the measured window"));
}
