// Benchmarks (not tests): the default scenario in process, raw cost-evaluation throughput, one
// served-pipeline simulation with and without its timeline, and the built executable as a script
// calling it sees it (wall time and peak memory of whole processes).
//   build/decodesim_bench [--evaluations N] [--repeats R] [--binary PATH]
// Exits 1 when a whole-process figure misses its floor.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "decodesim/chrome_trace.hpp"
#include "decodesim/cost.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/pipeline.hpp"
#include "decodesim/process.hpp"
#include "decodesim/report.hpp"
#include "decodesim/search.hpp"
#include "decodesim/writers.hpp"
#include "decodesim/plots.hpp"

using namespace decodesim;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median wall time and peak memory of `repeats` runs, after one unmeasured run.
ProcessResult median_run(const std::vector<std::string>& argv, const std::string& path, int repeats) {
  std::vector<double> wall, cpu, rss;
  for (int r = 0; r <= repeats; ++r) {
    const ProcessResult p = run_quietly(argv, path);
    if (p.exit_code != 0) throw std::runtime_error(argv[0] + " " + argv[1] + " failed");
    if (r > 0) wall.push_back(p.wall_ms), cpu.push_back(p.cpu_ms), rss.push_back(p.max_rss_mb);
  }
  ProcessResult m;
  m.exit_code = 0, m.wall_ms = median(wall), m.cpu_ms = median(cpu), m.max_rss_mb = median(rss);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  long evaluations = 100000;
  int repeats = 21;
  std::string binary = (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "decodesim").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--evaluations") evaluations = std::stol(argv[i + 1]);
    else if (a == "--repeats") repeats = std::stoi(argv[i + 1]);
    else if (a == "--binary") binary = argv[i + 1];
  }

  // 1. The default scenario as `decodesim run` does it, minus the gnuplot process: load and
  //    validate every file, compute every table, render them and write them (atomic) with the
  //    plot data and scripts.
  const auto out_dir = std::filesystem::temp_directory_path() / "decodesim-bench";
  std::vector<double> scenario_ms;
  size_t bytes_written = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    const Scenario s = load_scenario("report-comparison");
    const std::vector<Table> tables = scenario_tables(s);
    std::vector<OutputFile> files;
    std::string printed;
    for (const Table& t : tables) {
      printed += render_table(t);
      files.push_back({t.name + ".txt", render_table(t)});
      files.push_back({t.name + ".csv", render_csv(t)});
    }
    for (OutputFile& f : report_plots(s).files) files.push_back(std::move(f));
    write_files(out_dir, files);
    scenario_ms.push_back(ms_since(t0));
    bytes_written = printed.size();
  }
  std::filesystem::remove_all(out_dir);

  // 2. Cost evaluations: census + unit cost + token cost for one (model, chip, context).
  std::vector<Model> models;
  for (const std::string& id : known_ids("models")) models.push_back(load_model(id));
  std::vector<Hardware> chips;
  for (const std::string& id : known_ids("hardware")) chips.push_back(load_hardware(id));
  std::vector<double> contexts;
  for (double c = 1024; c <= 1048576; c *= 1.25) contexts.push_back(c);
  std::vector<double> rates;
  double checksum = 0;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    long n = 0;
    while (n < evaluations) {
      for (const Model& m : models)
        for (const Hardware& h : chips)
          for (double c : contexts) {
            if (n++ >= evaluations) goto done;
            checksum += token_cost(census(m, c), unit_cost(h, m.quant.compute)).total_usd();
          }
    }
  done:
    rates.push_back(evaluations / (ms_since(t0) * 1e-3));
  }

  // 3. One simulation of Step-3 2A2F on H800 (4 steps x 3 micro-batches x 61 layers x 4 tasks),
  //    plain, recording its timeline, and rendering that as Chrome trace JSON.
  const Model step3 = load_model("step3");
  const Pool h800{load_hardware("h800"), nullptr};
  PipelineConfig pc;
  pc.deployment = parse_deployment("2A2F");
  pc.batch = 6144;
  pc.micro_batches = default_micro_batches(pc.deployment.kind);
  std::vector<double> plain_us, recorded_us, render_us;
  size_t trace_bytes = 0;
  for (int r = 0; r < repeats * 10; ++r) {
    auto t0 = Clock::now();
    checksum += simulate(step3, h800, h800, pc).tpot_ms;
    plain_us.push_back(ms_since(t0) * 1e3);
    Timeline timeline;
    t0 = Clock::now();
    checksum += simulate(step3, h800, h800, pc, &timeline).tpot_ms;
    recorded_us.push_back(ms_since(t0) * 1e3);
    t0 = Clock::now();
    trace_bytes = chrome_trace_json(timeline).size();
    render_us.push_back(ms_since(t0) * 1e3);
  }

  // 4. A plan over every parallelism family (AFD, EP with attention TP 1..8, TP 1..8; 1..4
  //    micro-batches each) for one model on one chip, roofline and calibrated-carried timing alike.
  std::vector<std::pair<std::string, double>> plan_ms;
  long plan_candidates = 0;
  for (const char* id : {"step3", "deepseek-v3", "qwen3-32b"}) {
    const Model m = load_model(id);
    SearchSpace space;
    space.attention_chips = space.ffn_chips = space.colocated_chips = {Pool{load_hardware("h800"), nullptr}};
    std::vector<double> runs;
    for (int r = 0; r < 5; ++r) {
      SearchStats stats;
      const auto t0 = Clock::now();
      checksum += double(search_deployments(m, space, PipelineConfig{}, RankBy::tgs, &stats).size());
      runs.push_back(ms_since(t0));
      plan_candidates = stats.candidates;
    }
    plan_ms.push_back({fmt::format("{} ({} candidates)", id, plan_candidates), median(runs)});
  }

  fmt::print("default scenario (load + compute + render + write, no gnuplot): median {:.2f} ms over {} runs "
             "(min {:.2f}, max {:.2f}); {} bytes of tables\n",
             median(scenario_ms), repeats, *std::min_element(scenario_ms.begin(), scenario_ms.end()),
             *std::max_element(scenario_ms.begin(), scenario_ms.end()), bytes_written);
  fmt::print("cost evaluations: {} (model, chip, context) per run over {} models x {} chips x {} contexts, one core: "
             "median {:.2f} M/s (checksum {:.6g})\n",
             evaluations, models.size(), chips.size(), contexts.size(), median(rates) / 1e6, checksum);
  fmt::print("simulate step3 2A2F h800 (2,928 tasks): median {:.0f} us plain, {:.0f} us recording the timeline, "
             "{:.0f} us more for the Chrome trace JSON ({} bytes), over {} runs\n",
             median(plain_us), median(recorded_us), median(render_us), trace_bytes, plain_us.size());

  for (const auto& [what, ms] : plan_ms)
    fmt::print("plan over all families on h800, roofline, all cores: {} median {:.0f} ms over 5 runs\n", what, ms);

  // 5. The executable, whole processes: what a planner scripting thousands of calls pays per call.
  bool missed = false;
  auto report = [&](const std::string& what, const ProcessResult& r, double wall_floor_ms, double rss_floor_mb) {
    const bool ok = r.wall_ms < wall_floor_ms && (rss_floor_mb <= 0 || r.max_rss_mb < rss_floor_mb);
    missed |= !ok;
    fmt::print("{}: median {:.1f} ms wall (floor {:.0f} ms; {:.1f} ms CPU), {:.1f} MB peak resident{} over {} runs{}\n", what,
               r.wall_ms, wall_floor_ms, r.cpu_ms, r.max_rss_mb,
               rss_floor_mb > 0 ? fmt::format(" (floor {:.0f} MB)", rss_floor_mb) : "", repeats, ok ? "" : "  << MISSED");
  };
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  const std::string run_out = (out_dir / "run").string();
  report(binary + " census --model step3 --context 8k",
         median_run({binary, "census", "--model", "step3", "--context", "8k"}, path, repeats), 15, 40);
  report(binary + " run (default scenario, no gnuplot on the PATH)",
         median_run({binary, "run", "--out", run_out}, "/nonexistent", repeats), 50, 0);
  if (find_on_path("gnuplot", path))
    report(binary + " run (default scenario, figures rendered to PNG and SVG)",
           median_run({binary, "run", "--out", run_out}, path, repeats), 150, 0);
  else
    fmt::print("gnuplot not on the PATH: default scenario with figures not measured\n");
  std::filesystem::remove_all(out_dir);
  return missed ? 1 : 0;
}
