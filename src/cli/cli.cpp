#include "cli/cli.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/embed.hpp"
#include "cli/options.hpp"
#include "cli/pipeline_setup.hpp"
#include "decodesim/errors.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/writers.hpp"

namespace decodesim::cli {

namespace {

const char* kDefaultModels = "step3,deepseek-v3,qwen3-235b-a22b";
const char* kDefaultChips = "h800,h20,a800,ascend-910b";
const char* kDefaultContexts = "8192,32768";

struct Common {
  std::string format = "table";
  std::string out_dir;
  Format fmt() const { return format_named(format).value_or(Format::table); }  // CLI11 admits only the three names
  void add_to(CLI::App* app) {
    app->add_option("--format", format, "table (aligned, with units), csv or json")
        ->check(CLI::IsMember({"table", "csv", "json"}))
        ->capture_default_str();
    app->add_option("--out", out_dir, "also write each result to DIR/<analysis>.<txt|csv|json>");
  }
};

// Whatever a message quotes, it prints as one line of text.
std::string one_line(const std::string& message) { return printable(message, 4096); }

}  // namespace

CLI::Validator integer_option(limits::IntRange r) {
  return CLI::Validator(
      [r](std::string& text) {
        const std::optional<long long> v = integer_in(text, r);
        if (!v) return fmt::format("expected an integer in {}, got '{}'", limits::to_string(r), printable(text));
        text = std::to_string(*v);
        return std::string();
      },
      "INT in " + limits::to_string(r));
}

CLI::Validator number_option(limits::Range r) {
  return CLI::Validator(
      [r](std::string& text) {
        const std::optional<double> v = number_in(text, r);
        if (!v) return fmt::format("expected a number in {}, got '{}'", limits::to_string(r), printable(text));
        text = fmt::format("{}", *v);
        return std::string();
      },
      "NUMBER in " + limits::to_string(r));
}

void emit(const std::vector<Table>& tables, Format f, const std::string& out_dir, std::ostream& out,
          std::vector<OutputFile> extra_files) {
  // Run from another program (run_embedded), the caller takes the tables themselves, not their text.
  std::vector<Table>* const sink = embedded::table_sink();
  if (sink && out_dir.empty()) {
    sink->insert(sink->end(), tables.begin(), tables.end());
    return;
  }
  // Everything is rendered before anything is written: a failure leaves no partial output.
  std::vector<OutputFile> files;
  std::string text;
  for (const Table& t : tables) {
    const std::string body = render(t, f);
    if (!text.empty()) text += "\n";
    if (f == Format::csv && tables.size() > 1) text += "# " + t.name + "\n";
    text += body;
    files.push_back({t.name + "." + format_extension(f), body});
  }
  if (!out_dir.empty()) {
    for (OutputFile& e : extra_files) files.push_back(std::move(e));
    write_files(out_dir, files);
  }
  if (sink) sink->insert(sink->end(), tables.begin(), tables.end());
  else out << text;
}

int main(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"decodesim: analytical cost and performance simulator for LLM decoding (Step-3 report methods)"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");

  Common common;
  std::string models = kDefaultModels, chips = kDefaultChips, contexts = kDefaultContexts;
  PipelineSla sla;
  double ffn_batch = 0, sparsity = 0;
  long hidden = 0;
  int layers = 0;
  bool afd = false, units = false, whole_o_proj = false;
  std::string scenario;

  auto add_models = [&](CLI::App* c) {
    c->add_option("--model", models, "model ids, JSON paths or Hugging Face config.json files/folders, comma-separated")
        ->capture_default_str();
  };
  auto add_chips = [&](CLI::App* c) {
    c->add_option("--hardware", chips, "chip ids or JSON paths, comma-separated")->capture_default_str();
  };
  auto add_contexts = [&](CLI::App* c) {
    c->add_option("--context", contexts, "context lengths: 8192,32k,1m or ranges 8k:1m:x2, 8k:64k:+8k")
        ->capture_default_str();
  };
  std::vector<std::string> calibrations;
  auto add_calibration = [&](CLI::App* c) {
    c->add_option("--calibration", calibrations,
                  "calibrated hardware file(s) from `decodesim calibrate`: achieved rates replace peaks (carried to other chips)")
        ->check(CLI::ExistingFile);
  };
  std::string calibration_note;  // which chip the --calibration kernels ran on, and where they were carried
  auto chips_loaded = [&]() { return calibrated(load_hardware_list(chips), calibrations, &calibration_note); };
  auto noted = [&](std::vector<Table> tables) {
    if (!calibration_note.empty())
      for (Table& t : tables) t.notes.push_back(calibration_note);
    return tables;
  };
  auto add_sla = [&](CLI::App* c) {
    c->add_option("--tpot-ms", sla.tpot_ms, "time-per-output-token SLA")->check(number_option(limits::kTpotMs))->capture_default_str();
    c->add_option("--stages", sla.stages, "pipeline stages sharing the TPOT")->check(integer_option(limits::kStages))->capture_default_str();
  };

  CLI::App* census_cmd = app.add_subcommand("census", "per-token KV bytes, FLOPs and arithmetic intensity");
  add_models(census_cmd), add_contexts(census_cmd), common.add_to(census_cmd);

  CLI::App* cost_cmd = app.add_subcommand("cost", "theoretical USD per 1M decoded tokens per chip, and AFD");
  add_models(cost_cmd), add_chips(cost_cmd), add_contexts(cost_cmd), common.add_to(cost_cmd), add_calibration(cost_cmd);
  cost_cmd->add_flag("--afd", afd, "best AFD pairing vs best single chip instead of the per-chip table");
  cost_cmd->add_flag("--units", units, "also print the unit costs per FLOP and per byte");

  CLI::App* sparsity_cmd = app.add_subcommand("sparsity", "MoE batch needs and the minimum sparsity each chip sustains");
  add_chips(sparsity_cmd), add_sla(sparsity_cmd), common.add_to(sparsity_cmd), add_calibration(sparsity_cmd);
  sparsity_cmd->add_option("--model", models, "take H, L and sparsity from these models")->capture_default_str();
  sparsity_cmd->add_option("--hidden", hidden, "hidden size H (instead of --model)")->check(integer_option(limits::kHiddenSize));
  sparsity_cmd->add_option("--layers", layers, "layers L (instead of --model)")->check(integer_option(limits::kLayers));
  sparsity_cmd->add_option("--sparsity", sparsity, "MoE sparsity to compare with --hidden/--layers")
      ->check(number_option(limits::kFraction));
  sparsity_cmd->add_option("--nic-efficiency", sla.nic_efficiency, "achieved / line rate of the NICs (0.8 in practice)")
      ->check(number_option(limits::kFraction))
      ->capture_default_str();

  CLI::App* budget_cmd = app.add_subcommand("budget", "per-layer latency budget for attention and FFN chips");
  add_models(budget_cmd), add_chips(budget_cmd), add_contexts(budget_cmd), add_sla(budget_cmd), common.add_to(budget_cmd),
      add_calibration(budget_cmd);
  budget_cmd->add_option("--ffn-batch", ffn_batch, "tokens per FFN micro-batch (default: the chip's B_MoE)")
      ->check(number_option(limits::kTokens));
  budget_cmd->add_flag("--whole-o-proj", whole_o_proj,
                       "every attention card holds o_proj whole (stricter than the report, which shards it over the server's 8 cards)");

  CLI::App* run_cmd = app.add_subcommand("run", "run a scenario file (default: the report's comparison)");
  run_cmd->add_option("scenario", scenario, "scenario id or JSON path");
  run_cmd->add_option("--format", common.format, "override the scenario's output format")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  run_cmd->add_option("--out", common.out_dir, "override the scenario's output folder");
  add_calibration(run_cmd);

  CLI::App* list_cmd = app.add_subcommand("list", "known model, hardware and scenario ids");

  ImportOptions import_opts;
  CLI::App* import_cmd = app.add_subcommand("import", "write a Hugging Face config.json as a model description of decodesim's schema");
  import_cmd->add_option("config", import_opts.config, "config.json as published, or the folder holding it")->required();
  import_cmd->add_option("--out", import_opts.out_file, "description to write, models/NAME.json (its id is NAME)")->required();
  import_cmd->add_option("--id", import_opts.id, "id of the description (default: the --out file's name, which must match it)");
  const auto precisions = CLI::IsMember({"fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"});
  import_cmd->add_option("--weights", import_opts.weights, "weight (and compute) precision instead of the report's 8 bits")
      ->check(precisions);
  import_cmd->add_option("--kv", import_opts.kv, "KV precision of every softmax layer instead of the report's convention")
      ->check(precisions);
  import_cmd->add_option("--state", import_opts.state, "linear-attention state precision instead of the official FP32")
      ->check(precisions);

  CalibrateOptions calib;
  CLI::App* calibrate_cmd = app.add_subcommand("calibrate", "measure decode kernels on this GPU and fit the efficiency model");
  calibrate_cmd->add_option("--hardware", calib.hardware, "chip id or JSON path the calibration belongs to");
  calibrate_cmd->add_option("--out", calib.out_file, "calibrated hardware file to write (required but with --list)");
  calibrate_cmd->add_option("--model", calib.models, "models whose shapes are swept")->capture_default_str();
  calibrate_cmd->add_option("--csv", calib.csv_dir, "also write measurements and predictions as CSV (and plots) here");
  calibrate_cmd->add_flag("--quick", calib.quick, "a small sweep (for tests)");
  calibrate_cmd->add_option("--max-seconds", calib.max_seconds, "stop sweeping after this long and fit what was measured")
      ->check(number_option({0, 1e6}));
  calibrate_cmd->add_option("--only", calib.only,
                            "sweep only these families, comma-separated: decode, fp4, mtp, prefill, gemm, moe, layer (default: all)");
  calibrate_cmd->add_flag("--list", calib.list, "print the sweep's shapes (op class, FLOPs, bytes, predicted time) and stop: no GPU");
  calibrate_cmd->add_option("--refit", calib.refit,
                            "refit the measurements of calibrated files, comma-separated runs of one chip pooled (no GPU)");

  auto add_kv_dtype = [&](CLI::App* c, std::string& kv_dtype) {
    c->add_option("--kv-dtype", kv_dtype, "KV cache precision of every softmax-attention layer (default: the model's own)")
        ->check(CLI::IsMember({"bf16", "fp8", "fp4"}));
  };
  auto add_mtp = [&](CLI::App* c, int& mtp) {
    c->add_option("--mtp", mtp, "MTP draft tokens per step (K): each request verifies K+1 query tokens, the draft module runs K times")
        ->check(integer_option(limits::kMtpDraftTokens))
        ->capture_default_str();
  };
  std::string theory_kv_dtype;  // census and cost
  add_kv_dtype(census_cmd, theory_kv_dtype), add_kv_dtype(cost_cmd, theory_kv_dtype);
  // The models of --model with --kv-dtype applied, and a note saying so.
  auto theory_models = [&]() {
    std::vector<Model> ms = load_models(models);
    for (Model& m : ms) m = with_kv_option(std::move(m), theory_kv_dtype);
    return ms;
  };
  auto kv_noted = [&](std::vector<Table> tables) {
    if (!theory_kv_dtype.empty())
      for (Table& t : tables)
        t.notes.push_back(fmt::format("KV cache in {} on every softmax-attention layer (--kv-dtype){}.", theory_kv_dtype,
                                      theory_kv_dtype == "fp4" ? ": NVFP4, 4.5 bits per value with its FP8 scales, computed on at 8 bits" : ""));
    return tables;
  };
  // Calibrated timing by default (the shipped H100 file unless --calibration gives others).
  auto add_timing = [&](CLI::App* c, std::string& timing, std::vector<std::string>& files) {
    c->add_option("--calibration", files,
                  "calibrated hardware file(s) for --timing calibrated (default: the shipped H100 one), carried to each chip")
        ->check(CLI::ExistingFile);
    c->add_option("--timing", timing, "calibrated (measured kernels, carried to each chip) or roofline (datasheet peaks)")
        ->check(CLI::IsMember({"calibrated", "roofline"}))
        ->capture_default_str();
  };

  PipelineOptions pipe;
  auto add_pipeline = [&](CLI::App* c) {
    c->add_option("--model", pipe.model, "model id or JSON path")->capture_default_str();
    c->add_option("--hardware", pipe.hardware, "chip for attention and FFN (and EP)")->capture_default_str();
    c->add_option("--attention-hardware", pipe.attention_hardware, "AFD attention chip (plan: comma-separated candidates; default: --hardware)");
    c->add_option("--ffn-hardware", pipe.ffn_hardware, "AFD FFN chip (plan: comma-separated candidates; default: --hardware)");
    c->add_option("--context", pipe.context, "average context of the requests in flight: 4096, 32k or ranges")->capture_default_str();
    c->add_option("--tpot-ms", pipe.tpot_ms, "time-per-output-token SLA")->check(number_option(limits::kTpotMs))->capture_default_str();
    c->add_option("--nic-efficiency", pipe.nic_efficiency,
                  "achieved / line rate of the NICs for --fanout per-instance or report (deepep uses the chip's measured rate)")
        ->check(number_option(limits::kFraction))
        ->capture_default_str();
    c->add_option("--fanout", pipe.fanout,
                  "how tokens reach the experts: deepep (DeepEP's kernels at the NICs' measured rate), per-instance (an "
                  "ideal transport, once per distinct expert node, at --nic-efficiency) or report (once, ideal)")
        ->check(CLI::IsMember({"deepep", "per-instance", "report"}))
        ->capture_default_str();
    c->add_option("--expert-imbalance", pipe.expert_imbalance,
                  "busiest GPU's routed load over the mean, as measured (default: modelled from the routing, docs/network.md)")
        ->check(number_option(limits::kExpertImbalance));
    c->add_option("--redundant-experts", pipe.redundant_experts, "EPLB's extra expert slots over the EP group (default 0: no EPLB)")
        ->check(integer_option({0, limits::kExperts.hi}));
    c->add_option("--serving", pipe.serving,
                  "serving stack (id in serving/ or JSON path): sampler passes, CUDA-graph gaps, host scheduling (default: "
                  "the built-in stack of docs/pipeline.md, \"Serving overheads\"; none: the kernels alone)");
    add_timing(c, pipe.timing, pipe.calibrations);
    // 576: the largest NVLink domain (NVLink Switch System), an upper bound on one instance.
    c->add_option("--gpus-per-node,--gpus-per-instance", pipe.gpus_per_instance,
                  "GPUs of one node, linked by NVLink (intra_node_bytes_per_s); an AFD instance is one node (1: single-GPU "
                  "instances of one machine)")
        ->check(integer_option({1, 576}))
        ->capture_default_str();
    c->add_option("--attention-tp", pipe.attention_tp,
                  "GPUs sharing one request's attention heads (1: data-parallel attention, SGLang's DP attention)")
        ->check(integer_option(limits::kGpus));
    c->add_option("--ffn-tp", pipe.ffn_tp, "GPUs sharing every expert's weights (AFD: inside an FFN node; colocated: 1 or all)")
        ->check(integer_option(limits::kGpus));
    add_kv_dtype(c, pipe.kv_dtype);
    add_mtp(c, pipe.mtp);
    c->add_option("--mtp-acceptance", pipe.mtp_acceptance,
                  "with --mtp: acceptance of each draft position (one value, or K comma-separated; default 0.85, the low end of "
                  "DeepSeek-V3's reported 85-90%)");
    common.add_to(c);
  };
  auto add_deployment = [&](CLI::App* c) {
    c->add_option("--deployment", pipe.deployment,
                  "xAyF (x attention, y FFN nodes), EPn (n GPUs, attention data parallel, experts spread) or TPn (n GPUs, "
                  "everything split n ways); -ATPn / -FTPn set attention / FFN tensor parallelism")
        ->capture_default_str();
    c->add_option("--micro-batches", pipe.micro_batches,
                  "micro-batches in flight: N (at most 4 per layer) or auto, the best of 1..4 for the deployment")
        ->capture_default_str();
  };
  CLI::App* simulate_cmd = app.add_subcommand("simulate", "served decoding as a discrete-event pipeline (AFD xAyF or EP)");
  add_pipeline(simulate_cmd), add_deployment(simulate_cmd);
  simulate_cmd->add_option("--batch", pipe.batch, "requests decoding concurrently (default: the largest meeting SLA and memory)")
      ->check(number_option(limits::kTokens));
  simulate_cmd->add_option("--trace", pipe.trace_file, "also write the simulated timeline as Chrome trace JSON (Perfetto)");

  CLI::App* plan_cmd =
      app.add_subcommand("plan", "search deployments (AFD 1..8 x 1..8 nodes, EP 2..256 GPUs with attention TP 1..8, TP 1..8; "
                                 "1..4 micro-batches each) under the SLA and a GPU budget");
  add_pipeline(plan_cmd);
  plan_cmd->add_option("--deployments", pipe.deployments, "families searched: afd, ep, tp or all, comma-separated")->capture_default_str();
  plan_cmd->add_option("--gpus", pipe.gpus, "exactly this many GPUs: deployments that divide it, replicated to fill it")
      ->check(integer_option(limits::kGpus));
  plan_cmd->add_option("--max-gpus", pipe.max_gpus, "at most this many GPUs per deployment")->check(integer_option(limits::kGpus));
  plan_cmd->add_option("--rank-by", pipe.rank_by, "tgs (tokens per GPU per second) or usd (USD per 1M tokens)")
      ->check(CLI::IsMember({"tgs", "usd"}))
      ->capture_default_str();
  plan_cmd->add_option("--top", pipe.top, "rows to print")->check(integer_option(limits::kTopRows))->capture_default_str();
  plan_cmd->add_option("--micro-batches-search", pipe.micro_batches_search,
                       "micro-batch counts tried for every deployment, N or A..B (default: 1..4, the best kept)");

  LayerOptions layer;
  CLI::App* layer_cmd = app.add_subcommand("layer", "one attention layer per GPU at a deployment shape (report Table 9), kernel by kernel");
  layer_cmd->add_option("--model", layer.model, "model ids or JSON paths, comma-separated")->capture_default_str();
  layer_cmd->add_option("--hardware", layer.hardware, "chip ids or JSON paths, comma-separated")->capture_default_str();
  layer_cmd->add_option("--context", layer.context, "context of every request: 8192,32k or ranges 8k:64k:x2")->capture_default_str();
  layer_cmd->add_option("--batch", layer.batch, "requests over all the GPUs")->check(number_option(limits::kTokens))->capture_default_str();
  layer_cmd->add_option("--gpus", layer.gpus, "GPUs sharing the batch")->check(integer_option(limits::kGpus))->capture_default_str();
  layer_cmd->add_option("--attention-parallel", layer.attention_parallel,
                        "dp (each GPU its own requests, all heads) or tp (all requests, heads split over the GPUs)")
      ->check(CLI::IsMember({"dp", "tp"}))
      ->capture_default_str();
  layer_cmd->add_option("--attention-tp", layer.attention_tp,
                        "GPUs sharing one request's heads, in --gpus / T data-parallel groups (overrides --attention-parallel)")
      ->check(integer_option(limits::kGpus));
  add_kv_dtype(layer_cmd, layer.kv_dtype);
  add_mtp(layer_cmd, layer.mtp);
  add_timing(layer_cmd, layer.timing, layer.calibrations);
  common.add_to(layer_cmd);

  std::string published;
  CLI::App* validate_cmd = app.add_subcommand(
      "validate", "every published figure the project holds (report Tables 8-9, DeepEP, our served runs) against the simulator");
  validate_cmd->add_option("--published", published, "published figures (JSON; default: bench/published.json)");
  common.add_to(validate_cmd);
  PrefillOptions prefill;
  CLI::App* prefill_cmd = app.add_subcommand("prefill", "prompt processing on one deployment: input tokens per second, TTFT, utilisation");
  add_pipeline(prefill_cmd), add_deployment(prefill_cmd);
  prefill_cmd->remove_option(prefill_cmd->get_option("--context"));  // the prompt is the context
  prefill_cmd->remove_option(prefill_cmd->get_option("--tpot-ms"));
  prefill_cmd->add_option("--input-tokens", prefill.input_tokens, "prompt length in tokens")
      ->check(number_option(limits::kTokens))
      ->capture_default_str();
  prefill_cmd->add_option("--batch-tokens", prefill.batch_tokens,
                          "tokens per forward of one data-parallel attention group (chunked prefill below the prompt; default: "
                          "one whole prompt)")
      ->check(number_option(limits::kTokens));

  TrafficOptions traffic;
  add_traffic_options(plan_cmd, traffic, true);
  CLI::App* traffic_cmd = app.add_subcommand("traffic", "request-level serving: arrivals, continuous batching and queueing on one deployment");
  add_pipeline(traffic_cmd), add_deployment(traffic_cmd);
  traffic_cmd->remove_option(traffic_cmd->get_option("--context"));  // the requests carry their contexts
  add_traffic_options(traffic_cmd, traffic, false);

  if (embedded::inspect(app)) return 0;  // command_specs(): the declared commands, nothing parsed or run

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help
      std::ostringstream o, ee;
      app.exit(e, o, ee);
      out << o.str();
      return 0;
    }
    err << "decodesim: " << one_line(e.what()) << " (see decodesim --help)\n";
    return 2;
  }

  try {
    if (*census_cmd) {
      emit(kv_noted({census_table(theory_models(), parse_contexts(contexts))}), common.fmt(), common.out_dir, out);
    } else if (*cost_cmd) {
      const auto ms = theory_models();
      const auto hs = chips_loaded();
      const auto cs = parse_contexts(contexts);
      std::vector<Table> tables;
      if (units) tables.push_back(unit_cost_table(hs, ms.front().quant.compute));
      tables.push_back(afd ? afd_table(ms, hs, cs) : cost_table(ms, hs, cs));
      emit(kv_noted(noted(std::move(tables))), common.fmt(), common.out_dir, out);
    } else if (*sparsity_cmd) {
      SparsityQuery q;
      q.sla = sla;
      const bool by_shape = sparsity_cmd->count("--hidden") || sparsity_cmd->count("--layers");
      if (by_shape) {
        if (!hidden || !layers) throw InputError("sparsity: --hidden and --layers go together");
        if (sparsity_cmd->count("--model")) throw InputError("sparsity: give --model or --hidden/--layers, not both");
        q.hidden = hidden, q.layers = layers, q.sparsity = sparsity;
      } else {
        q.models = load_models(models);
      }
      emit(noted({sparsity_table(q, chips_loaded())}), common.fmt(), common.out_dir, out);
    } else if (*budget_cmd) {
      emit(noted({budget_table(load_models(models), chips_loaded(), parse_contexts(contexts), sla, ffn_batch,
                               whole_o_proj ? BudgetConvention::whole_o_proj() : BudgetConvention::report())}),
           common.fmt(), common.out_dir, out);
    } else if (*run_cmd) {
      return run_scenario_command(scenario, common.format, common.out_dir, calibrations, out, err);
    } else if (*list_cmd) {
      for (const char* folder : {"models", "hardware", "scenarios", "serving"}) {
        out << folder << ":";
        for (const std::string& id : known_ids(folder)) out << " " << id;
        out << "\n";
      }
    } else if (*import_cmd) {
      return import_command(import_opts, out);
    } else if (*calibrate_cmd) {
      return calibrate_command(calib, out, err);
    } else if (*layer_cmd) {
      return layer_command(layer, common.fmt(), common.out_dir, out);
    } else if (*validate_cmd) {
      return validate_command(published, common.fmt(), common.out_dir, out);
    } else if (*simulate_cmd) {
      return simulate_command(pipe, common.fmt(), common.out_dir, out);
    } else if (*plan_cmd) {
      check_plan_traffic_options(plan_cmd, traffic);
      if (traffic.requested()) return plan_traffic_command(pipe, traffic, common.fmt(), common.out_dir, out);
      return plan_command(pipe, common.fmt(), common.out_dir, out);
    } else if (*prefill_cmd) {
      return prefill_command(pipe, prefill, common.fmt(), common.out_dir, out);
    } else if (*traffic_cmd) {
      return traffic_command(pipe, traffic, common.fmt(), common.out_dir, out, err);
    }
  } catch (const InputError& e) {
    err << "decodesim: " << one_line(e.what()) << "\n";
    return 2;
  } catch (const std::exception& e) {
    err << "decodesim: " << one_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}

}  // namespace decodesim::cli
