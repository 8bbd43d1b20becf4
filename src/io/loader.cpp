#include "decodesim/loader.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "decodesim/census.hpp"
#include "decodesim/writers.hpp"
#include "hf/hf_config.hpp"
#include "json_reader.hpp"

namespace decodesim {

using io::json;
using io::ObjectReader;
namespace fs = std::filesystem;

std::vector<fs::path> data_dirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("DECODESIM_DATA"); env && *env) dirs.emplace_back(env);
  dirs.emplace_back(DECODESIM_DATA_DIR);
  return dirs;
}

std::vector<std::string> known_ids(const std::string& folder) {
  std::vector<std::string> ids;
  for (const fs::path& d : data_dirs()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d / folder, ec))
      if (e.path().extension() == ".json") ids.push_back(e.path().stem().string());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::optional<Dtype> dtype_named(const std::string& name) {
  for (Dtype d : {Dtype::fp32, Dtype::bf16, Dtype::fp16, Dtype::fp8, Dtype::int8, Dtype::int4})
    if (name == dtype_name(d)) return d;
  return std::nullopt;
}

namespace {

bool looks_like_path(const std::string& spec) {
  return spec.find('/') != std::string::npos || (spec.size() > 5 && spec.ends_with(".json"));
}

fs::path resolve(const std::string& spec, const std::string& folder, const std::string& what) {
  if (spec.empty()) throw InputError(fmt::format("empty {} name", what));
  if (looks_like_path(spec)) return spec;
  for (const fs::path& d : data_dirs()) {
    fs::path p = d / folder / (spec + ".json");
    if (fs::exists(p)) return p;
  }
  std::string known;
  for (const std::string& id : known_ids(folder)) known += (known.empty() ? "" : ", ") + id;
  throw InputError(fmt::format("unknown {} id '{}' (known: {})", what, spec, known.empty() ? "none" : known));
}

Dtype parse_dtype(ObjectReader& r, const std::string& key, Dtype dflt) {
  if (!r.has(key)) return dflt;
  const json& v = r.raw(key);
  if (v.is_string())
    if (const std::optional<Dtype> d = dtype_named(v.get<std::string>())) return *d;
  r.fail_value(key, "one of fp32, bf16, fp16, fp8, int8, int4", v);
}

AttentionSpec parse_attention(ObjectReader r, const std::string& name) {
  AttentionSpec a;
  a.name = name;
  const std::string kind = r.string("kind");
  if (kind == "gqa" || kind == "mha") a.kind = AttentionKind::gqa;
  else if (kind == "mfa") a.kind = AttentionKind::mfa;
  else if (kind == "mla") a.kind = AttentionKind::mla;
  else if (kind == "linear") a.kind = AttentionKind::linear;
  else r.fail_value("kind", "one of gqa, mha, mfa, mla, linear", json(kind));
  a.q_heads = static_cast<int>(r.positive_int("q_heads"));
  if (a.kind == AttentionKind::mla) {
    a.q_lora_rank = static_cast<int>(r.opt_nonneg_int("q_lora_rank", 0));
    a.kv_lora_rank = static_cast<int>(r.positive_int("kv_lora_rank"));
    a.qk_nope_head_dim = static_cast<int>(r.positive_int("qk_nope_head_dim"));
    a.qk_rope_head_dim = static_cast<int>(r.positive_int("qk_rope_head_dim"));
    a.v_head_dim = static_cast<int>(r.positive_int("v_head_dim"));
    a.kv_heads = 1;
  } else {
    a.kv_heads = static_cast<int>(r.positive_int("kv_heads"));
    a.head_dim = static_cast<int>(r.positive_int("head_dim"));
    if (a.q_heads % a.kv_heads != 0)
      r.fail("kv_heads", fmt::format("expected a divisor of q_heads ({}), got {}", a.q_heads, a.kv_heads));
    if (a.kind == AttentionKind::linear) {
      a.output_gate = r.opt_bool("output_gate", false);
      if (r.has("state_dtype")) a.cache_dtype = parse_dtype(r, "state_dtype", Dtype::fp32);
    } else {
      a.q_lora_rank = static_cast<int>(r.opt_nonneg_int("q_lora_rank", 0));
      if (r.has("window") && r.has("chunk")) r.fail("chunk", "give either window or chunk, not both");
      if (r.has("window")) a.scope = AttentionScope::sliding, a.window_tokens = r.positive_int("window");
      if (r.has("chunk")) a.scope = AttentionScope::chunked, a.window_tokens = r.positive_int("chunk");
    }
  }
  if (a.kind != AttentionKind::linear && r.has("kv_dtype")) a.cache_dtype = parse_dtype(r, "kv_dtype", Dtype::fp8);
  r.finish();
  return a;
}

FfnSpec parse_ffn(ObjectReader r, const std::string& name) {
  FfnSpec f;
  f.name = name;
  const std::string kind = r.string("kind");
  if (kind == "dense") {
    f.kind = FfnKind::dense;
    f.intermediate = r.positive_int("intermediate");
  } else if (kind == "moe") {
    f.kind = FfnKind::moe;
    f.routed_experts = static_cast<int>(r.positive_int("routed_experts"));
    f.top_k = static_cast<int>(r.positive_int("top_k"));
    if (f.top_k > f.routed_experts)
      r.fail("top_k", fmt::format("expected at most routed_experts ({}), got {}", f.routed_experts, f.top_k));
    f.expert_intermediate = r.positive_int("expert_intermediate");
    f.shared_experts = static_cast<int>(r.opt_nonneg_int("shared_experts", 0));
    f.shared_intermediate = f.shared_experts > 0 ? r.positive_int("shared_intermediate")
                                                 : r.opt_nonneg_int("shared_intermediate", 0);
  } else {
    r.fail_value("kind", "dense or moe", json(kind));
  }
  r.finish();
  return f;
}

// Named types: {"name": {...}, ...}.
template <class Spec, class Parse>
std::vector<Spec> parse_types(ObjectReader& r, const std::string& key, Parse parse) {
  const json& types = r.raw(key);
  if (!types.is_object() || types.empty()) r.fail_value(key, "a non-empty object of named types", types);
  std::vector<Spec> out;
  for (auto it = types.begin(); it != types.end(); ++it) {
    if (it.key().starts_with("_")) continue;
    out.push_back(parse(ObjectReader(it.value(), r.file(), r.path_of(key) + "." + it.key()), it.key()));
  }
  if (out.size() > static_cast<size_t>(kMaxModelTypes))
    r.fail(key, fmt::format("expected at most {} types, got {}", kMaxModelTypes, out.size()));
  return out;
}

// Segments [{"type": T, "count": N} | {"cycle": [T...], "count": N}] -> one type index per layer.
template <class Spec>
std::vector<int> parse_layers(ObjectReader& r, const std::string& key, const std::vector<Spec>& types) {
  auto index_of = [&](const json& name, const std::string& path) {
    if (name.is_string())
      for (size_t i = 0; i < types.size(); ++i)
        if (types[i].name == name.get<std::string>()) return static_cast<int>(i);
    std::string known;
    for (const Spec& t : types) known += (known.empty() ? "" : ", ") + t.name;
    throw InputError(fmt::format("{}: {}: expected a declared type ({}), got {}", r.file(), path, known,
                                 io::describe(name)));
  };
  std::vector<int> layers;
  if (!r.has(key)) {
    if (types.size() != 1) r.fail(key, "missing: required when more than one type is declared");
    return layers;  // filled by the caller once the layer count is known
  }
  const json& segs = r.array(key);
  for (size_t s = 0; s < segs.size(); ++s) {
    ObjectReader seg(segs[s], r.file(), fmt::format("{}[{}]", r.path_of(key), s));
    const long count = seg.positive_int("count");
    std::vector<int> cycle;
    if (seg.has("type") == seg.has("cycle")) seg.fail("type", "expected exactly one of type or cycle");
    if (seg.has("type")) {
      cycle.push_back(index_of(seg.raw("type"), seg.path_of("type")));
    } else {
      const json& c = seg.array("cycle");
      for (size_t i = 0; i < c.size(); ++i) cycle.push_back(index_of(c[i], fmt::format("{}[{}]", seg.path_of("cycle"), i)));
    }
    seg.finish();
    if (layers.size() + count > 100000) seg.fail("count", "expected at most 100000 layers in all");
    for (long i = 0; i < count; ++i) layers.push_back(cycle[i % cycle.size()]);
  }
  return layers;
}

std::string check_id(ObjectReader& r) {
  std::string id = r.string("id");
  for (char ch : id)
    if (!(std::islower(static_cast<unsigned char>(ch)) || std::isdigit(static_cast<unsigned char>(ch)) || ch == '-' ||
          ch == '.' || ch == '_'))
      r.fail_value("id", "lower-case letters, digits, '-', '.', '_'", json(id));
  return id;
}

}  // namespace

Model load_model(const std::string& spec) {
  fs::path path = resolve(spec, "models", "model");
  std::error_code ec;
  if (fs::is_directory(path, ec)) path /= "config.json";  // a Hugging Face model folder
  const json j = io::parse_json_file(path);
  // A Hugging Face config.json is one more way to describe the same model.
  if (io::hf::is_hf_config(j)) return io::hf::model_from_hf(j, path, {});
  ObjectReader r(j, path.string(), "$");
  Model m;
  m.file = path.string();
  m.id = check_id(r);
  m.name = r.string("name");
  m.source = r.string("source");
  m.hidden_size = r.positive_int("hidden_size");
  m.vocab_size = r.positive_int("vocab_size");
  m.tie_embeddings = r.opt_bool("tie_embeddings", false);
  m.attention_types = parse_types<AttentionSpec>(r, "attention_types", parse_attention);
  m.ffn_types = parse_types<FfnSpec>(r, "ffn_types", parse_ffn);
  m.layer_attention = parse_layers(r, "attention_layers", m.attention_types);
  m.layer_ffn = parse_layers(r, "ffn_layers", m.ffn_types);
  if (m.layer_attention.empty() && m.layer_ffn.empty())
    r.fail("attention_layers", "missing: give attention_layers or ffn_layers so the layer count is known");
  if (m.layer_attention.empty()) m.layer_attention.assign(m.layer_ffn.size(), 0);
  if (m.layer_ffn.empty()) m.layer_ffn.assign(m.layer_attention.size(), 0);
  if (m.layer_attention.size() != m.layer_ffn.size())
    r.fail("ffn_layers", fmt::format("expected {} layers in all (as attention_layers), got {}",
                                     m.layer_attention.size(), m.layer_ffn.size()));

  ObjectReader q = r.object("quantization");
  m.quant.weights = parse_dtype(q, "weights", m.quant.weights);
  m.quant.kv = parse_dtype(q, "kv", m.quant.kv);
  m.quant.state = parse_dtype(q, "state", m.quant.state);
  m.quant.activations = parse_dtype(q, "activations", m.quant.activations);
  m.quant.combine = parse_dtype(q, "combine", m.quant.combine);
  m.quant.compute = parse_dtype(q, "compute", m.quant.compute);
  q.finish();

  if (r.has("published")) {
    ObjectReader p = r.object("published");
    m.published.total_params = p.opt_positive("total_params").value_or(0);
    m.published.activated_params = p.opt_positive("activated_params").value_or(0);
    m.published.includes_embeddings = p.opt_bool("includes_embeddings", true);
    p.opt_string("source");
    p.finish();
  }
  r.finish();
  return m;
}

Hardware load_hardware(const std::string& spec) {
  const fs::path path = resolve(spec, "hardware", "hardware");
  const json j = io::parse_json_file(path);
  ObjectReader r(j, path.string(), "$");
  Hardware h;
  h.file = path.string();
  h.id = check_id(r);
  h.name = r.string("name");
  r.string("source");
  r.opt_string("price_source");
  h.usd_per_hour = r.positive("usd_per_hour");
  ObjectReader f = r.object("peak_flops_per_s");
  h.bf16_flops_per_s = f.positive("bf16");
  h.fp8_flops_per_s = f.opt_positive("fp8");
  h.int8_flops_per_s = f.opt_positive("int8");
  f.finish();
  h.mem_bytes_per_s = r.positive("mem_bytes_per_s");
  h.mem_capacity_bytes = r.positive("mem_capacity_bytes");
  h.nic_count = static_cast<int>(r.positive_int("nic_count"));
  h.nic_gbps = r.positive("nic_gbps");
  h.intra_node_bytes_per_s = r.positive("intra_node_bytes_per_s");
  h.link_latency_us = r.opt_nonneg("link_latency_us", 0.0);
  r.finish();
  return h;
}

std::string shipped_calibration_path() { return resolve("h100", "hardware/calibrated", "calibration").string(); }

namespace {


// "32k" -> 32768, "1m" -> 1048576, "8192" -> 8192.
double parse_tokens(const std::string& t, const std::string& whole) {
  auto bad = [&]() -> double {
    throw InputError(fmt::format("--context: expected token counts like 8192, 32k, 1m or ranges 8k:1m:x2, got '{}'", whole));
  };
  if (t.empty()) return bad();
  double mult = 1;
  std::string num = t;
  const char last = static_cast<char>(std::tolower(static_cast<unsigned char>(t.back())));
  if (last == 'k') mult = 1024, num.pop_back();
  else if (last == 'm') mult = 1024 * 1024, num.pop_back();
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(num, &used);
  } catch (...) {
    return bad();
  }
  if (used != num.size() || !std::isfinite(v) || v <= 0) return bad();
  return v * mult;
}

}  // namespace

std::vector<double> parse_contexts(const std::string& text) {
  std::vector<double> out;
  for (const std::string& item : split_list(text)) {
    const size_t c1 = item.find(':');
    if (c1 == std::string::npos) {
      out.push_back(parse_tokens(item, text));
      continue;
    }
    const size_t c2 = item.find(':', c1 + 1);
    if (c2 == std::string::npos || c2 + 2 > item.size())
      throw InputError(fmt::format("--context: a range is FROM:TO:xFACTOR or FROM:TO:+STEP, got '{}'", item));
    const double from = parse_tokens(item.substr(0, c1), text), to = parse_tokens(item.substr(c1 + 1, c2 - c1 - 1), text);
    const char op = item[c2 + 1];
    const std::string step_text = item.substr(c2 + 2);
    if (to < from) throw InputError(fmt::format("--context: range '{}' ends before it starts", item));
    if (op == 'x') {
      const double f = parse_tokens(step_text, text);
      if (f <= 1) throw InputError(fmt::format("--context: factor in '{}' must exceed 1", item));
      for (double c = from; c <= to * (1 + 1e-12) && out.size() < 100000; c *= f) out.push_back(c);
    } else if (op == '+') {
      const double s = parse_tokens(step_text, text);
      for (double c = from; c <= to * (1 + 1e-12) && out.size() < 100000; c += s) out.push_back(c);
    } else {
      throw InputError(fmt::format("--context: a range is FROM:TO:xFACTOR or FROM:TO:+STEP, got '{}'", item));
    }
  }
  if (out.empty()) throw InputError(fmt::format("--context: no context lengths in '{}'", text));
  if (out.size() >= 100000) throw InputError("--context: more than 100000 context lengths");
  return out;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  std::stringstream ss(s);
  while (std::getline(ss, cur, ','))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

std::vector<Model> load_models(const std::string& csv_specs) {
  std::vector<Model> out;
  for (const std::string& s : split_list(csv_specs)) out.push_back(load_model(s));
  if (out.empty()) throw InputError("--model: no model given");
  return out;
}

std::vector<Hardware> load_hardware_list(const std::string& csv_specs) {
  std::vector<Hardware> out;
  for (const std::string& s : split_list(csv_specs)) out.push_back(load_hardware(s));
  if (out.empty()) throw InputError("--hardware: no chip given");
  return out;
}

const char* analysis_name(Analysis a) {
  switch (a) {
    case Analysis::census: return "census";
    case Analysis::cost: return "cost";
    case Analysis::afd: return "afd";
    case Analysis::sparsity: return "sparsity";
    case Analysis::budget: return "budget";
    case Analysis::plan: return "plan";
    case Analysis::plots: return "plots";
  }
  return "?";
}

namespace {

// The TPOT and its stages, common to the network and budget blocks; the caller reads the rest.
PipelineSla read_tpot(ObjectReader& r) {
  PipelineSla sla;
  sla.tpot_ms = r.opt_positive("tpot_ms").value_or(sla.tpot_ms);
  sla.stages = static_cast<int>(r.opt_positive_int("stages", sla.stages));
  return sla;
}

PipelineSla parse_sla(ObjectReader& parent, const std::string& key) {
  if (!parent.has(key)) return {};
  ObjectReader r = parent.object(key);
  PipelineSla sla = read_tpot(r);
  sla.nic_efficiency = r.opt_positive("nic_efficiency").value_or(sla.nic_efficiency);
  if (sla.nic_efficiency > 1) r.fail_value("nic_efficiency", "a fraction in (0, 1]", json(sla.nic_efficiency));
  sla.instance_gpus = static_cast<int>(r.opt_positive_int("instance_gpus", sla.instance_gpus));
  r.finish();
  return sla;
}

// Ids resolve through the data folders; relative paths against the scenario's folder first.
std::string scenario_relative(const std::string& spec, const fs::path& scenario_path) {
  if (!looks_like_path(spec) || fs::path(spec).is_absolute()) return spec;
  fs::path p = scenario_path.parent_path() / spec;
  return fs::exists(p) ? p.string() : spec;
}

}  // namespace

Scenario load_scenario(const std::string& spec) {
  const fs::path path = resolve(spec, "scenarios", "scenario");
  const json j = io::parse_json_file(path);
  ObjectReader r(j, path.string(), "$");
  Scenario s;
  s.file = path.string();
  s.name = r.string("name");
  auto list = [&](ObjectReader& in, const std::string& key) {
    std::vector<std::string> out;
    const json& a = in.array(key);
    for (size_t i = 0; i < a.size(); ++i) {
      if (!a[i].is_string() || a[i].get<std::string>().empty())
        throw InputError(fmt::format("{}: {}[{}]: expected an id or path string, got {}", s.file, in.path_of(key), i,
                                     io::describe(a[i])));
      out.push_back(scenario_relative(a[i].get<std::string>(), path));
    }
    return out;
  };
  for (const std::string& m : list(r, "models")) s.models.push_back(load_model(m));
  for (const std::string& h : list(r, "hardware")) s.hardware.push_back(load_hardware(h));

  const json& ctx = r.raw("contexts");
  if (ctx.is_array()) {
    if (ctx.empty()) r.fail_value("contexts", "a non-empty array of positive integers", ctx);
    for (size_t i = 0; i < ctx.size(); ++i) {
      if (!ctx[i].is_number_integer() || ctx[i].get<long long>() <= 0)
        throw InputError(fmt::format("{}: $.contexts[{}]: expected a positive integer, got {}", s.file, i,
                                     io::describe(ctx[i])));
      s.contexts.push_back(static_cast<double>(ctx[i].get<long long>()));
    }
  } else {
    ObjectReader c = r.object("contexts");
    const long from = c.positive_int("from"), to = c.positive_int("to");
    if (to < from) c.fail_value("to", fmt::format("at least from ({})", from), json(to));
    if (c.has("factor") == c.has("step")) c.fail("factor", "expected exactly one of factor or step");
    const std::string range = c.has("factor") ? fmt::format("{}:{}:x{}", from, to, c.positive("factor"))
                                              : fmt::format("{}:{}:+{}", from, to, c.positive_int("step"));
    c.finish();
    try {
      s.contexts = parse_contexts(range);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: $.contexts: {}", s.file, e.what()));
    }
  }

  const json& an = r.array("analyses");
  for (size_t i = 0; i < an.size(); ++i) {
    bool ok = false;
    for (Analysis a : {Analysis::census, Analysis::cost, Analysis::afd, Analysis::sparsity, Analysis::budget, Analysis::plan,
                       Analysis::plots})
      if (an[i].is_string() && an[i].get<std::string>() == analysis_name(a)) s.analyses.push_back(a), ok = true;
    if (!ok)
      throw InputError(fmt::format("{}: $.analyses[{}]: expected one of census, cost, afd, sparsity, budget, plan, plots, got {}",
                                   s.file, i, io::describe(an[i])));
  }
  s.network = parse_sla(r, "network");
  if (r.has("budget")) {
    ObjectReader b = r.object("budget");
    s.budget = read_tpot(b);
    s.ffn_batch_tokens = b.has("ffn_batch_tokens") ? b.positive("ffn_batch_tokens") : 0;
    if (b.opt_bool("whole_o_proj", false)) s.budget_convention = BudgetConvention::whole_o_proj();
    b.finish();
  }
  if (r.has("plan")) {
    ObjectReader pl = r.object("plan");
    s.plan_top = static_cast<int>(pl.opt_positive_int("top", s.plan_top));
    if (auto by = pl.opt_string("rank_by")) {
      if (*by != "usd" && *by != "tgs") pl.fail_value("rank_by", "usd or tgs", json(*by));
      s.plan_rank_by_usd = *by == "usd";
    }
    pl.finish();
  }
  if (r.has("plots")) {
    ObjectReader pl = r.object("plots");
    if (pl.has("pareto_models"))
      for (const std::string& m : list(pl, "pareto_models")) s.pareto_models.push_back(load_model(m));
    pl.finish();
  }
  if (r.has("output")) {
    ObjectReader o = r.object("output");
    if (auto d = o.opt_string("dir")) s.out_dir = *d;
    if (auto f = o.opt_string("format")) {
      const std::optional<Format> named = format_named(*f);
      if (!named) o.fail_value("format", "table, csv or json", json(*f));
      s.format = *named;
    }
    o.finish();
  }
  r.finish();
  return s;
}

}  // namespace decodesim
