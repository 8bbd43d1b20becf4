// End-to-end: the real binary, its exit codes, its files.
#include "helpers.hpp"

#include <sys/wait.h>

using namespace decodesim;

namespace {

using test::lines;
using test::Result;
using test::run;

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Bad input: exit 2, one short line on stderr saying `expect`, nothing on stdout and no `out`.
void check_refused(const std::string& args, const std::string& expect, const std::filesystem::path& out = {}) {
  INFO(args);
  const Result r = run(args);
  CHECK(r.code == 2);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.size() < 400);
  CHECK_THAT(r.err, Catch::Contains(expect));
  CHECK(r.out.empty());
  if (!out.empty()) CHECK_FALSE(std::filesystem::exists(out));
}

}  // namespace

TEST_CASE("census, cost and AFD CSV columns are exactly the documented ones", "[cli]") {
  const Result census = run("census --format csv");
  REQUIRE(census.code == 0);
  CHECK(first_line(census.out) == "model,context,kv_bytes,attention_flops,linear_flops,ffn_flops,arithmetic_intensity");
  CHECK(lines(census.out) == 1 + 3 * 2);
  CHECK(census.out.find("\nstep3,8192,255852544,") != std::string::npos);

  const Result cost = run("cost --format csv --model step3 --hardware h800,h20 --context 8k:32k:x2");
  REQUIRE(cost.code == 0);
  CHECK(first_line(cost.out) == "model,hardware,context,attention_usd_per_mtok,ffn_usd_per_mtok,total_usd_per_mtok");
  CHECK(lines(cost.out) == 1 + 2 * 3);

  const Result afd = run("cost --afd --format csv");
  REQUIRE(afd.code == 0);
  CHECK(first_line(afd.out) ==
        "model,context,attention_hardware,ffn_hardware,afd_usd_per_mtok,best_single_hardware,single_usd_per_mtok");
  CHECK(afd.out.find("\nqwen3-235b-a22b,8192,h20,h800,0.0618") != std::string::npos);
}

TEST_CASE("sparsity by model or by H and L; json output parses", "[cli]") {
  const Result by_model = run("sparsity --format csv --model step3 --nic-efficiency 0.8");
  REQUIRE(by_model.code == 0);
  const std::string header = first_line(by_model.out);
  CHECK(header.find("hardware") != std::string::npos);
  CHECK(header.find("min_sparsity") != std::string::npos);
  const Result by_shape = run("sparsity --format json --hidden 7168 --layers 61 --hardware h800");
  REQUIRE(by_shape.code == 0);
  const auto j = nlohmann::json::parse(by_shape.out);
  CHECK(j["rows"][0]["min_sparsity"].get<double>() == Approx(0.0584).epsilon(0.01));
  CHECK(run("sparsity --hidden 7168").code == 2);  // --layers missing
}

TEST_CASE("budget prints a table with units", "[cli]") {
  const Result r = run("budget --model step3 --hardware h20,l20 --context 8k,32k");
  REQUIRE(r.code == 0);
  CHECK(r.out.find("layer_budget_us [us]") != std::string::npos);
  CHECK(r.out.find("273.2") != std::string::npos);
  CHECK(r.out.find("o_proj sharded over its server's 8 cards") != std::string::npos);
  // Step-3's per-card projection bytes per layer: 66,584,576 (o_proj sharded) or 169,345,024 (whole).
  const Result report = run("budget --format csv --model step3 --hardware h20 --context 8k");
  const Result strict = run("budget --format csv --model step3 --hardware h20 --context 8k --whole-o-proj");
  REQUIRE(report.code == 0);
  REQUIRE(strict.code == 0);
  CHECK(report.out.find(",66584576,") != std::string::npos);
  CHECK(strict.out.find(",169345024,") != std::string::npos);
  CHECK(first_line(report.out).find("ffn_servers") != std::string::npos);
}

TEST_CASE("run with no argument runs the report's comparison and writes every output", "[cli]") {
  test::TempDir d;
  const Result r = run("run --out '" + (d.path / "res").string() + "'");
  REQUIRE(r.code == 0);
  CHECK(r.out.find("Best AFD pairing") != std::string::npos);
  for (const char* f : {"census.csv", "cost.csv", "afd.csv", "sparsity.csv", "budget.csv", "unit_cost.csv", "census.txt",
                        "fig1-pareto.gp", "fig1-pareto.dat", "fig2-cost-8192.gp", "fig3-context.gp", "fig5-intensity.gp"}) {
    INFO(f);
    CHECK(std::filesystem::exists(d.path / "res" / f));
  }
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    CHECK(std::filesystem::file_size(d.path / "res" / "fig5-intensity.png") > 1000);
    CHECK(std::filesystem::exists(d.path / "res" / "fig1-pareto.svg"));
  }
  for (const auto& e : std::filesystem::directory_iterator(d.path / "res")) CHECK(e.path().extension() != ".partial");
}

TEST_CASE("without gnuplot the figures' data and scripts are still written, and it says so", "[cli]") {
  test::TempDir d;
  const std::string cmd = "env PATH=/nonexistent '" + std::string(DECODESIM_BINARY) + "' run --out '" +
                          (d.path / "res").string() + "' >/dev/null 2>'" + (d.path / "err").string() + "'";
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(test::read_file(d.path / "err"), Catch::Contains("gnuplot not found"));
  for (const char* f : {"fig1-pareto.gp", "fig1-pareto.dat", "fig5-intensity.gp", "fig5-intensity.dat", "census.csv"})
    CHECK(std::filesystem::exists(d.path / "res" / f));
  CHECK_FALSE(std::filesystem::exists(d.path / "res" / "fig1-pareto.png"));
}

TEST_CASE("bad input: one line, exit code 2, no output files", "[cli]") {
  test::TempDir d;
  const std::string out = (d.path / "res").string();
  const auto bad_model = d.write("bad.json", R"({"id": "bad", "name": "x"})");
  const auto bad_scenario = d.write("s.json", R"({"name": "s", "models": ["step3"], "hardware": ["h800"],
      "contexts": [8192], "analyses": ["cost", "plots"], "output": {"dir": "x"}, "oops": 1})");
  const std::pair<std::string, std::string> cases[] = {
      {"cost --model nosuch --out '" + out + "'", "unknown model id 'nosuch'"},
      {"census --model '" + bad_model.string() + "' --out '" + out + "'", "$.source: missing required key"},
      {"cost --hardware h800,nosuch --out '" + out + "'", "unknown hardware id 'nosuch'"},
      {"census --context 8k:1k:x2 --out '" + out + "'", "ends before it starts"},
      {"run '" + bad_scenario.string() + "' --out '" + out + "'", "$.oops: unknown key"},
      {"run /nonexistent.json", "cannot read file"},
      {"cost --format xml", "--format"},
      {"census --bogus", "bogus"},
      {"", "subcommand"},
  };
  for (const auto& [args, expect] : cases) check_refused(args, expect, out);
}

TEST_CASE("an unwritable output folder fails cleanly", "[cli]") {
  test::TempDir d;
  const auto blocker = d.write("file", "not a folder");
  const Result r = run("census --out '" + (blocker / "sub").string() + "'");
  CHECK(r.code == 2);
  CHECK(lines(r.err) == 1);
  CHECK(r.out.empty());
}

TEST_CASE("help works and lists the subcommands", "[cli]") {
  const Result r = run("--help");
  CHECK(r.code == 0);
  for (const char* sub : {"census", "cost", "sparsity", "budget", "run", "calibrate", "import", "layer"}) CHECK(r.out.find(sub) != std::string::npos);
}

TEST_CASE("list shows every data id", "[cli]") {
  const Result r = run("list");
  REQUIRE(r.code == 0);
  for (const char* id : {"step3", "kimi-k2", "b200", "report-comparison"}) CHECK(r.out.find(id) != std::string::npos);
}

TEST_CASE("hostile options and files: exit 2, one short line, nothing written", "[cli][hostile]") {
  test::TempDir d;
  const std::string out = (d.path / "res").string();
  const auto renamed = d.write("mine.json", test::read_file(test::source_dir() / "models/step3.json"));
  const auto repeated = d.write("s.json", R"({"name": "s", "models": ["step3"], "hardware": ["h800"], "contexts": [8192, 4096, 8192],
      "analyses": ["census", "cost"], "output": {"dir": "x"}})");
  const std::pair<std::string, std::string> cases[] = {
      {"sparsity --tpot-ms abc", "--tpot-ms: expected a number in [0.01, 1000000], got 'abc'"},
      {"sparsity --tpot-ms nan", "got 'nan'"},
      {"sparsity --nic-efficiency nan", "--nic-efficiency"},
      {"sparsity --hidden 7168 --layers 61 --sparsity nan", "--sparsity"},
      {"budget --ffn-batch nan", "--ffn-batch"},
      {"budget --tpot-ms 1e-9", "--tpot-ms"},
      {"sparsity --stages 0x10", "--stages: expected an integer in [1, 64], got '0x10'"},
      {"simulate --batch nan", "--batch"},
      {"simulate --micro-batches 2147483647", "--micro-batches: '2147483647': expected auto or a count in [1, 4096]"},
      {"simulate --micro-batches 100000", "--micro-batches"},
      {"simulate --micro-batches 1000", "expected at most 4 per layer"},
      {"simulate --deployment 99999999999A1F", "--deployment: '99999999999A1F'"},
      {"simulate --deployment EP2147483648", "--deployment: 'EP2147483648'"},
      {"simulate --deployment 200000000A200000000F", "x and y in [1, 1024]"},
      {"simulate --hardware h800,h800", "--hardware: chip 'h800' is given twice"},
      {"plan --hardware h800,h800", "--hardware: chip 'h800' is given twice"},
      {"plan --attention-hardware h800,h20 --ffn-hardware h800,h20 --context 1k:1m:+1k", "more than the 200000"},
      {"census --context 0.5", "--context: expected whole token counts"},
      {"census --context 0x10", "--context"},
      {"census --context 1e308", "--context"},
      {"census --context 8k,8192", "--context: context 8192 is listed twice"},
      {"budget --context 1:99999:+1", "expected at most 1024 context lengths"},
      {"census --model " + std::string(300, 'a'), "(300 bytes)' is neither a model id"},
      {"census --model '" + renamed.string() + "'", "$.id: expected 'mine' (the file's name), got \"step3\""},
      {"run '" + repeated.string() + "'", "$.contexts[2]: 8192 is already listed at $.contexts[0]"},
  };
  for (const auto& [args, expect] : cases) check_refused(args + " --out '" + out + "'", expect, out);
  // Control characters in an id come back escaped.
  const Result control = run("census --model \"$(printf 'a\\033[2Jb')\"");
  CHECK(control.code == 2);
  CHECK_THAT(control.err, Catch::Contains("'a\\x1b[2Jb' is neither a model id"));
}

TEST_CASE("calibrate --refit writes all of its files or none", "[cli][hostile][calibration]") {
  test::TempDir d;
  const std::string shipped = (test::source_dir() / "hardware/calibrated/h100.json").string();
  auto j = nlohmann::json::parse(test::read_file(shipped));
  j.erase("measurements");
  const auto fits_only = d.write("fits-only.json", j.dump());
  const auto blocker = d.write("blocker", "a file");
  const std::pair<std::string, std::string> cases[] = {
      // A file without measurements used to refit into "fits": [], which --calibration refuses.
      {"--refit '" + fits_only.string() + "' --out '" + (d.path / "a/x.json").string() + "'", "$.measurements: no measurements to refit"},
      // An unwritable --out used to leave the CSV and plot data behind.
      {"--refit '" + shipped + "' --out '" + (blocker / "x.json").string() + "'", "cannot create folder"},
      {"--refit '" + shipped + "' --out '" + (d.path / "a/calibration_fits.csv").string() + "'", "two outputs of this name"},
  };
  for (const auto& [args, expect] : cases)
    check_refused("calibrate " + args + " --csv '" + (d.path / "a").string() + "'", expect, d.path / "a");
  const Result ok = run("calibrate --refit '" + shipped + "' --out '" + (d.path / "b/h100.json").string() + "' --csv '" +
                        (d.path / "b").string() + "'");
  CHECK(ok.code == 0);
  CHECK(std::filesystem::exists(d.path / "b/h100.json"));
  CHECK(std::filesystem::exists(d.path / "b/calibration_fits.csv"));
}

TEST_CASE("calibrate reaches the CUDA backend through the loader, and says why it cannot measure", "[cli][gpu_loader]") {
  test::TempDir d;
  const std::string out = (d.path / "h100.json").string();
  const std::string args = "calibrate --hardware h100 --out '" + out + "'";
  const std::pair<std::string, std::string> cases[] = {
      {std::string("DECODESIM_CUDA_LIBRARY='") + DECODESIM_FAKE_BACKEND + "'", "calibrate needs a GPU: fake backend: no device"},
      {std::string("DECODESIM_CUDA_LIBRARY='") + DECODESIM_STALE_BACKEND + "'", "was built from another gpu.hpp"},
      {"DECODESIM_CUDA_LIBRARY=/nonexistent.so", "DECODESIM_CUDA_LIBRARY=/nonexistent.so does not exist"},
#ifndef DECODESIM_CUDA_BACKEND  // with one, this would calibrate the GPU of a GPU machine
      {"", "CUDA backend not built/installed: no libdecodesim_cuda.so beside"},
#endif
  };
  for (const auto& [env, expect] : cases) {
    INFO(env);
    const Result r = run(args, "", env);
    CHECK(r.code == 1);
    CHECK(lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::StartsWith("decodesim: calibrate needs a GPU: ") && Catch::Contains(expect));
    CHECK_FALSE(std::filesystem::exists(out));
  }
  // Refitting stored measurements needs neither a GPU nor the backend.
  const Result refit = run("calibrate --refit '" + (test::source_dir() / "hardware/calibrated/h100.json").string() + "' --out '" + out + "'",
                           "", "DECODESIM_CUDA_LIBRARY=/nonexistent.so");
  CHECK(refit.code == 0);
  CHECK(std::filesystem::exists(out));
}

TEST_CASE("the executable links no CUDA library", "[cli][gpu_loader]") {
  test::TempDir d;
  const std::string cmd = "ldd '" + std::string(DECODESIM_BINARY) + "' >'" + (d.path / "ldd").string() + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) return;  // no ldd here: nothing to check
  const std::string libs = test::read_file(d.path / "ldd");
  CHECK(libs.find("libc.so") != std::string::npos);
  for (const char* cuda : {"cuda", "cublas"}) CHECK(libs.find(cuda) == std::string::npos);
}

TEST_CASE("one gnuplot process renders every figure in every format; a script it fails on is named", "[cli][plots]") {
  test::TempDir d;
  const std::string calls = (d.path / "calls").string(), out = (d.path / "res").string();
  // A stand-in gnuplot: logs each call (its arguments, or the commands it reads), fails when
  // they name the script in FAIL_ON.
  const auto fake = d.write("bin/gnuplot", "#!/bin/sh\ninput=\"$*\"\n[ $# -eq 0 ] && input=$(/bin/cat)\n"
                                           "printf 'call %s\\n' \"$(echo \"$input\" | /usr/bin/tr '\\n' ' ')\" >> '" + calls + "'\n"
                                           "case \"$input\" in *\"$FAIL_ON\"*) [ -n \"$FAIL_ON\" ] && exit 1;; esac\nexit 0\n");
  std::filesystem::permissions(fake, std::filesystem::perms::owner_all);
  const std::string path = "PATH='" + (d.path / "bin").string() + "'";

  const Result ok = run("run --out '" + out + "'", "", path);
  CHECK(ok.code == 0);
  CHECK(ok.err.empty());
  std::string log = test::read_file(calls);
  CHECK(lines(log) == 1);
  CHECK(log.find("cd '" + out + "'") != std::string::npos);
  for (const char* gp : {"fig1-pareto.gp", "fig2-cost-8192.gp", "fig2-cost-32768.gp", "fig3-context.gp", "fig5-intensity.gp"})
    CHECK(log.find(std::string("load '") + gp + "'") != std::string::npos);
  // Each script renders both formats.
  const std::string fig1 = test::read_file(d.path / "res" / "fig1-pareto.gp");
  CHECK(fig1.find("set output 'fig1-pareto.png'") != std::string::npos);
  CHECK(fig1.find("set output 'fig1-pareto.svg'") != std::string::npos);

  std::filesystem::remove(calls);
  const Result failing = run("run --out '" + out + "'", "", path + " FAIL_ON=fig3-context.gp");
  CHECK(failing.code == 0);  // the results are written; the figures are the user's to fix
  CHECK(lines(failing.err) == 1);
  CHECK_THAT(failing.err, Catch::Contains("gnuplot failed on: fig3-context.gp (data and scripts are in " + out + "/)"));
  log = test::read_file(calls);
  CHECK(lines(log) == 1 + 5);  // all at once, then each alone to find the one that fails

  // Results that cannot be written: gnuplot, already started, is given nothing to render.
  std::filesystem::remove(calls);
  const auto blocker = d.write("file", "not a folder");
  const Result unwritable = run("run --out '" + (blocker / "sub").string() + "'", "", path);
  CHECK(unwritable.code == 2);
  CHECK(lines(unwritable.err) == 1);
  log = test::read_file(calls);
  CHECK(lines(log) == 1);
  CHECK(log.find("load") == std::string::npos);
}

TEST_CASE("a Hugging Face config works wherever a model does, and import writes its description", "[cli][hf]") {
  const std::string src = test::source_dir().string();
  auto rows = [](const std::string& csv) { return csv.substr(csv.find('\n') + 1); };
  auto without_ids = [](std::string s, const std::string& id) {
    for (size_t at; (at = s.find(id + ",")) != std::string::npos;) s.erase(at, id.size());
    return s;
  };
  const Result builtin = run("census --format csv --model step3 --context 8k,32k");
  const Result config = run("census --format csv --model '" + src + "/tests/hf/step3/config.json' --context 8k,32k");
  REQUIRE(builtin.code == 0);
  REQUIRE(config.code == 0);
  CHECK(rows(config.out) == rows(builtin.out));  // the folder is named step3 too

  test::TempDir d;
  const std::string out = (d.path / "models" / "kimi.json").string();
  const Result imported = run("import '" + src + "/tests/hf/kimi-k2' --out '" + out + "'");
  REQUIRE(imported.code == 0);
  CHECK_THAT(imported.out, Catch::Contains("kimi, 61 layers"));
  REQUIRE(std::filesystem::exists(out));
  const auto description = nlohmann::json::parse(test::read_file(out));
  CHECK(description["id"] == "kimi");
  CHECK_THAT(description["source"].get<std::string>(), Catch::Contains("n_routed_experts 384"));
  const Result reloaded = run("cost --format csv --hardware h800,h20 --model '" + out + "'");
  const Result kimi = run("cost --format csv --hardware h800,h20 --model kimi-k2");
  REQUIRE(reloaded.code == 0);
  CHECK(without_ids(rows(reloaded.out), "kimi") == without_ids(rows(kimi.out), "kimi-k2"));

  // --kv replaces the report's precision (MiniMax-M1's BF16 softmax KV).
  const std::string fp8 = (d.path / "mm.json").string();
  REQUIRE(run("import '" + src + "/tests/hf/minimax-m1' --out '" + fp8 + "' --kv fp8").code == 0);
  CHECK(nlohmann::json::parse(test::read_file(fp8))["quantization"]["kv"] == "fp8");

  // Bad input: exit 2, one line, nothing written.
  const auto bad = d.write("bad/config.json", R"({"model_type": "falcon", "hidden_size": 4544})");
  for (const auto& [args, expect] :
       {std::pair{"import '" + bad.string() + "' --out '" + (d.path / "falcon.json").string() + "'", std::string("unsupported model_type")},
        std::pair{"import '" + src + "/tests/hf/step3' --out '" + (d.path / "falcon.json").string() + "' --id step3",
                  std::string("must be the id (step3.json)")},
        std::pair{"import '" + src + "/tests/hf/step3' --out '" + (d.path / "falcon.json").string() + "' --kv fp9",
                  std::string("--kv")},
        std::pair{"census --model '" + bad.string() + "'", std::string("$.model_type: unsupported model_type \"falcon\"")}}) {
    INFO(args);
    const Result r = run(args);
    CHECK(r.code == 2);
    CHECK(lines(r.err) == 1);
    CHECK_THAT(r.err, Catch::Contains(expect));
    CHECK_FALSE(std::filesystem::exists(d.path / "falcon.json"));
  }
}

TEST_CASE("hostile traffic options and traces: exit 2, one short line", "[cli][hostile][traffic]") {
  test::TempDir d;
  const auto far = d.write("far.csv", "0,10,10\n1e300,10,10\n");
  const auto control = d.write("control.csv", "0,10,10\n1,\x1b[2J,10\n");
  const std::pair<std::string, std::string> cases[] = {
      {"traffic --rate nan", "--rate: expected a number in [1e-06, 1000000], got 'nan'"},
      {"traffic --rate 1 --duration inf", "--duration"},
      {"traffic --rate 1 --warmup-s -1", "--warmup-s"},
      {"traffic --rate 1 --replicas 0x10", "--replicas: expected an integer in [1, 1024], got '0x10'"},
      {"traffic --rate 1 --seed -1", "--seed"},
      {"traffic --rate 1 --max-batch nan", "--max-batch"},
      {"traffic --rate 1 --input-tokens lognormal:nan:1", "--input-tokens"},
      {"traffic --trace '" + far.string() + "'", "line 2: arrival_s: expected seconds in [0, 1e+07]"},
      {"traffic --trace '" + control.string() + "'", "line 2: input_tokens: expected a whole number of tokens >= 1, got '\\x1b[2J'"},
      {"plan --rate 1 --p99-tpot-ms 0", "--p99-tpot-ms"},
  };
  for (const auto& [args, expect] : cases) check_refused(args, expect);
}
