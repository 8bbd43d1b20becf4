#include "decodesim/loader.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
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
namespace lim = limits;

std::vector<fs::path> data_dirs() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("DECODESIM_DATA"); env && *env) dirs.emplace_back(env);
  dirs.emplace_back(DECODESIM_DATA_DIR);
  return dirs;
}

namespace {
// The first data folder holding `relative` as a regular file.
std::optional<fs::path> in_data_dirs(const fs::path& relative) {
  for (const fs::path& d : data_dirs()) {
    std::error_code ec;
    if (fs::is_regular_file(d / relative, ec)) return d / relative;
  }
  return std::nullopt;
}
}  // namespace

std::string data_file(const std::string& relative) {
  if (const std::optional<fs::path> p = in_data_dirs(relative)) return p->string();
  throw InputError(fmt::format("{}: not found in the data folders", relative));
}

std::vector<std::string> known_ids(const std::string& folder) {
  std::vector<std::string> ids;
  for (const fs::path& d : data_dirs()) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(d / folder, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      if (it->path().extension() == ".json" && io::is_plain_name(it->path().stem().string()))  // loadable by id
        ids.push_back(it->path().stem().string());
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::optional<Dtype> dtype_named(const std::string& name) {
  for (Dtype d : {Dtype::fp32, Dtype::bf16, Dtype::fp16, Dtype::fp8, Dtype::int8, Dtype::int4, Dtype::fp4})
    if (name == dtype_name(d)) return d;
  return std::nullopt;
}

namespace {

bool looks_like_path(const std::string& spec) {
  return spec.find('/') != std::string::npos || (spec.size() > 5 && spec.ends_with(".json"));
}

// An id or a path; an id must be a plain name before it becomes part of a path.
fs::path resolve(const std::string& spec, const std::string& folder, const std::string& what) {
  if (spec.empty()) throw InputError(fmt::format("empty {} name", what));
  if (looks_like_path(spec)) return spec;
  if (!io::is_plain_name(spec))
    throw InputError(fmt::format("'{}' is neither a {} id (lower-case letters, digits, '-', '.', '_', at most {}) nor a path "
                                 "to a .json file",
                                 printable(spec), what, lim::kMaxIdLength));
  if (const std::optional<fs::path> p = in_data_dirs(fs::path(folder) / (spec + ".json"))) return *p;
  std::string known;
  for (const std::string& id : known_ids(folder)) known += (known.empty() ? "" : ", ") + id;
  throw InputError(fmt::format("unknown {} id '{}' (known: {})", what, spec, known.empty() ? "none" : known));
}

Dtype parse_dtype(ObjectReader& r, const std::string& key, Dtype dflt) {
  if (!r.has(key)) return dflt;
  const json& v = r.raw(key);
  if (v.is_string())
    if (const std::optional<Dtype> d = dtype_named(v.get<std::string>())) return *d;
  r.fail_value(key, "one of fp32, bf16, fp16, fp8, int8, int4, fp4", v);
}

int shape(ObjectReader& r, const std::string& key, lim::IntRange range) { return static_cast<int>(r.integer(key, range)); }

AttentionSpec parse_attention(ObjectReader r, const std::string& name) {
  AttentionSpec a;
  a.name = name;
  const std::string kind = r.string("kind");
  if (kind == "gqa" || kind == "mha") a.kind = AttentionKind::gqa;
  else if (kind == "mfa") a.kind = AttentionKind::mfa;
  else if (kind == "mla") a.kind = AttentionKind::mla;
  else if (kind == "linear") a.kind = AttentionKind::linear;
  else r.fail_value("kind", "one of gqa, mha, mfa, mla, linear", json(kind));
  a.q_heads = shape(r, "q_heads", lim::kHeads);
  if (a.kind == AttentionKind::mla) {
    a.q_lora_rank = static_cast<int>(r.opt_integer("q_lora_rank", lim::kLoraRank, 0));
    a.kv_lora_rank = shape(r, "kv_lora_rank", {1, lim::kLoraRank.hi});
    a.qk_nope_head_dim = shape(r, "qk_nope_head_dim", lim::kHeadDim);
    a.qk_rope_head_dim = shape(r, "qk_rope_head_dim", lim::kHeadDim);
    a.v_head_dim = shape(r, "v_head_dim", lim::kHeadDim);
    a.kv_heads = 1;
  } else {
    a.kv_heads = shape(r, "kv_heads", lim::kHeads);
    a.head_dim = shape(r, "head_dim", lim::kHeadDim);
    if (a.q_heads % a.kv_heads != 0)
      r.fail("kv_heads", fmt::format("expected a divisor of q_heads ({}), got {}", a.q_heads, a.kv_heads));
    if (a.kind == AttentionKind::linear) {
      a.output_gate = r.opt_bool("output_gate", false);
      a.block_tokens = static_cast<int>(r.opt_integer("block_tokens", lim::kContextTokens, 0));
      if (r.has("state_dtype")) a.cache_dtype = parse_dtype(r, "state_dtype", Dtype::fp32);
    } else {
      a.q_lora_rank = static_cast<int>(r.opt_integer("q_lora_rank", lim::kLoraRank, 0));
      if (r.has("window") && r.has("chunk")) r.fail("chunk", "give either window or chunk, not both");
      if (r.has("window")) a.scope = AttentionScope::sliding, a.window_tokens = r.integer("window", lim::kContextTokens);
      if (r.has("chunk")) a.scope = AttentionScope::chunked, a.window_tokens = r.integer("chunk", lim::kContextTokens);
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
    f.intermediate = r.integer("intermediate", lim::kFfnWidth);
  } else if (kind == "moe") {
    f.kind = FfnKind::moe;
    f.routed_experts = shape(r, "routed_experts", lim::kExperts);
    f.top_k = shape(r, "top_k", lim::kTopK);
    if (f.top_k > f.routed_experts)
      r.fail("top_k", fmt::format("expected at most routed_experts ({}), got {}", f.routed_experts, f.top_k));
    f.expert_intermediate = r.integer("expert_intermediate", lim::kFfnWidth);
    f.shared_experts = static_cast<int>(r.opt_integer("shared_experts", lim::kSharedExperts, 0));
    f.shared_intermediate = f.shared_experts > 0 ? r.integer("shared_intermediate", lim::kFfnWidth)
                                                 : r.opt_integer("shared_intermediate", {0, lim::kFfnWidth.hi}, 0);
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
  size_t declared = 0;
  for (auto it = types.begin(); it != types.end(); ++it) declared += !it.key().starts_with("_");
  if (declared > static_cast<size_t>(kMaxModelTypes))
    r.fail(key, fmt::format("expected at most {} types, got {}", kMaxModelTypes, declared));
  std::vector<Spec> out;
  for (auto it = types.begin(); it != types.end(); ++it) {
    if (it.key().starts_with("_")) continue;
    if (!io::is_plain_name(it.key()))
      r.fail(key, fmt::format("expected type names of lower-case letters, digits, '-', '.', '_' (at most {}), got '{}'",
                              lim::kMaxIdLength, printable(it.key())));
    out.push_back(parse(ObjectReader(it.value(), r.source(), r.path_of(key) + "." + it.key()), it.key()));
  }
  return out;
}

// Segments [{"type": T, "count": N} | {"cycle": [T...], "count": N}] -> one type index per layer.
template <class Spec>
std::vector<int> parse_layers(ObjectReader& r, const std::string& key, const std::vector<Spec>& types) {
  auto index_of = [&](const json& name, const std::string& path) {
    if (name.is_string())
      for (size_t i = 0; i < types.size(); ++i)
        if (types[i].name == name.get_ref<const std::string&>()) return static_cast<int>(i);
    std::string known;
    for (const Spec& t : types) known += (known.empty() ? "" : ", ") + t.name;
    throw InputError(fmt::format("{}: {}: expected a declared type ({}), got {}", r.file(), path, known, io::describe(name)));
  };
  std::vector<int> layers;
  if (!r.has(key)) {
    if (types.size() != 1) r.fail(key, "missing: required when more than one type is declared");
    return layers;  // filled by the caller once the layer count is known
  }
  const json& segs = r.array(key, lim::kMaxLayers);
  for (size_t s = 0; s < segs.size(); ++s) {
    ObjectReader seg(segs[s], r.source(), fmt::format("{}[{}]", r.path_of(key), s));
    const long long count = seg.integer("count", lim::kLayers);
    std::vector<int> cycle;
    if (seg.has("type") == seg.has("cycle")) seg.fail("type", "expected exactly one of type or cycle");
    if (seg.has("type")) {
      cycle.push_back(index_of(seg.raw("type"), seg.path_of("type")));
    } else {
      const json& c = seg.array("cycle", lim::kMaxLayers);
      for (size_t i = 0; i < c.size(); ++i) cycle.push_back(index_of(c[i], fmt::format("{}[{}]", seg.path_of("cycle"), i)));
    }
    seg.finish();
    if (static_cast<long long>(layers.size()) + count > lim::kMaxLayers)
      seg.fail("count", fmt::format("expected at most {} layers in all", lim::kMaxLayers));
    for (long long i = 0; i < count; ++i) layers.push_back(cycle[i % cycle.size()]);
  }
  return layers;
}

// The id, which names the file: a plain name equal to the file's stem.
std::string check_id(ObjectReader& r, const std::string& file) {
  std::string id = r.name("id");
  const std::string stem = fs::path(file).stem().string();
  if (id != stem) r.fail_value("id", fmt::format("'{}' (the file's name)", printable(stem)), json(id));
  return id;
}

// A description of ours (docs/schema.md).
Model description_from(const json& j, const std::string& file) {
  ObjectReader r(j, file, "$");
  Model m;
  m.file = file;
  m.id = check_id(r, file);
  m.name = r.string("name");
  m.source = r.string("source");
  m.hidden_size = r.integer("hidden_size", lim::kHiddenSize);
  m.vocab_size = r.integer("vocab_size", lim::kVocabSize);
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
    // Headline counts: up to 1e15 parameters (1000x the largest published, 1T for Kimi-K2).
    constexpr lim::Range kParams{0, 1e15};
    ObjectReader p = r.object("published");
    m.published.total_params = p.opt_number("total_params", kParams).value_or(0);
    m.published.activated_params = p.opt_number("activated_params", kParams).value_or(0);
    m.published.includes_embeddings = p.opt_bool("includes_embeddings", true);
    p.opt_string("source");
    p.finish();
  }
  r.finish();
  return m;
}

}  // namespace

void check_model_ranges(const Model& m, const std::string& file) {
  auto check = [&](long long v, lim::IntRange r, const std::string& what) {
    if (!r.contains(v))
      throw InputError(fmt::format("{}: $: the model it describes has {} {}: expected an integer in {}", printable(file, 256), what, v,
                                   lim::to_string(r)));
  };
  check(m.hidden_size, lim::kHiddenSize, "hidden_size");
  check(m.vocab_size, lim::kVocabSize, "vocab_size");
  check(m.num_layers(), lim::kLayers, "layers");
  check(static_cast<long long>(m.attention_types.size()), {1, kMaxModelTypes}, "attention designs");
  check(static_cast<long long>(m.ffn_types.size()), {1, kMaxModelTypes}, "FFN designs");
  for (const AttentionSpec& a : m.attention_types) {
    const std::string d = "attention design '" + printable(a.name) + "'";
    check(a.q_heads, lim::kHeads, d + " q_heads");
    check(a.q_lora_rank, lim::kLoraRank, d + " q_lora_rank");
    if (a.kind == AttentionKind::mla) {
      check(a.kv_lora_rank, {1, lim::kLoraRank.hi}, d + " kv_lora_rank");
      for (const auto& [v, name] : {std::pair{a.qk_nope_head_dim, "qk_nope_head_dim"}, std::pair{a.qk_rope_head_dim, "qk_rope_head_dim"},
                                    std::pair{a.v_head_dim, "v_head_dim"}})
        check(v, lim::kHeadDim, d + " " + name);
    } else {
      check(a.kv_heads, {1, a.q_heads}, d + " kv_heads");
      check(a.head_dim, lim::kHeadDim, d + " head_dim");
    }
    if (a.scope != AttentionScope::global) check(a.window_tokens, lim::kContextTokens, d + " window");
  }
  for (const FfnSpec& f : m.ffn_types) {
    const std::string d = "FFN design '" + printable(f.name) + "'";
    if (f.kind == FfnKind::dense) {
      check(f.intermediate, lim::kFfnWidth, d + " intermediate");
      continue;
    }
    check(f.routed_experts, lim::kExperts, d + " routed_experts");
    check(f.top_k, {1, std::min<long long>(lim::kTopK.hi, f.routed_experts)}, d + " top_k");
    check(f.expert_intermediate, lim::kFfnWidth, d + " expert_intermediate");
    check(f.shared_experts, lim::kSharedExperts, d + " shared_experts");
    if (f.shared_experts > 0) check(f.shared_intermediate, lim::kFfnWidth, d + " shared_intermediate");
  }
}

std::string shipped_calibration_path() { return resolve("h100", "hardware/calibrated", "calibration").string(); }

namespace {

// A description, or a Hugging Face config.json: one more way to describe the same model.
Model model_from(const json& j, const fs::path& file) {
  return io::hf::is_hf_config(j) ? io::hf::model_from_hf(j, file, {}) : description_from(j, file.string());
}

}  // namespace

Model parse_model(const std::string& text, const std::string& file) { return model_from(io::parse_json_text(text, file), file); }

namespace {

Hardware hardware_from(const json& j, const std::string& file) {
  ObjectReader r(j, file, "$");
  Hardware h;
  h.file = file;
  h.id = check_id(r, file);
  h.name = r.string("name");
  r.string("source");
  r.opt_string("price_source");
  h.usd_per_hour = r.number("usd_per_hour", lim::kUsdPerHour);
  ObjectReader f = r.object("peak_flops_per_s");
  h.bf16_flops_per_s = f.number("bf16", lim::kFlopsPerSecond);
  h.fp8_flops_per_s = f.opt_number("fp8", lim::kFlopsPerSecond);
  h.int8_flops_per_s = f.opt_number("int8", lim::kFlopsPerSecond);
  f.finish();
  h.mem_bytes_per_s = r.number("mem_bytes_per_s", lim::kBytesPerSecond);
  h.mem_capacity_bytes = r.number("mem_capacity_bytes", lim::kMemoryBytes);
  h.nic_count = static_cast<int>(r.integer("nic_count", lim::kNicCount));
  h.nic_gbps = r.number("nic_gbps", lim::kNicGbps);
  h.intra_node_bytes_per_s = r.number("intra_node_bytes_per_s", lim::kBytesPerSecond);
  h.link_latency_us = r.opt_number("link_latency_us", lim::kLinkLatencyUs).value_or(0.0);
  h.fp32_flops_per_s = r.opt_number("fp32_flops_per_s", lim::kFlopsPerSecond);
  h.sfu_ops_per_s = r.opt_number("sfu_ops_per_s", lim::kFlopsPerSecond);
  h.sm_count = static_cast<int>(r.opt_integer("sm_count", lim::kSmCount, 0));
  if (r.has("attention_tile")) {
    // The decode attention kernels' M tile (docs/calibration.md, "Kernel work as issued"): its rows
    // and the kernel sources they are read from, both required.
    ObjectReader t = r.object("attention_tile");
    h.attention_tile_rows = static_cast<int>(t.integer("rows", lim::kAttentionTileRows));
    t.string("source");
    t.finish();
  }
  if (r.has("network")) {
    // The network model's parameters (docs/network.md); each key optional, defaults in NetworkParams.
    ObjectReader n = r.object("network");
    NetworkParams& p = h.network;
    n.opt_string("source");
    p.rdma_efficiency = n.opt_number("rdma_efficiency", lim::kFraction).value_or(p.rdma_efficiency);
    p.rdma_messages_per_s = n.opt_number("rdma_messages_per_s", lim::kMessagesPerSecond).value_or(p.rdma_messages_per_s);
    p.nvlink_efficiency = n.opt_number("nvlink_efficiency", lim::kFraction).value_or(p.nvlink_efficiency);
    p.gpus_per_node = static_cast<int>(n.opt_integer("gpus_per_node", lim::kGpusPerNode, p.gpus_per_node));
    p.a2a_fixed_us = n.opt_number("a2a_fixed_us", lim::kLinkLatencyUs).value_or(p.a2a_fixed_us);
    p.a2a_normal_sms = static_cast<int>(n.opt_integer("a2a_normal_sms", lim::kSmCount, p.a2a_normal_sms));
    if (h.sm_count > 0 && p.a2a_normal_sms >= h.sm_count)
      n.fail("a2a_normal_sms", fmt::format("expected fewer than sm_count ({}), got {}", h.sm_count, p.a2a_normal_sms));
    p.collective_bus_bytes_per_s =
        n.opt_number("collective_bus_bytes_per_s", lim::kBytesPerSecond).value_or(p.collective_bus_bytes_per_s);
    p.collective_base_us = n.opt_number("collective_base_us", lim::kLinkLatencyUs).value_or(p.collective_base_us);
    p.collective_step_us = n.opt_number("collective_step_us", lim::kLinkLatencyUs).value_or(p.collective_step_us);
    n.finish();
  }
  r.finish();
  return h;
}

}  // namespace

Hardware parse_hardware(const std::string& text, const std::string& file) {
  return hardware_from(io::parse_json_text(text, file), file);
}

Model load_model(const std::string& spec) {
  fs::path path = resolve(spec, "models", "model");
  std::error_code ec;
  if (fs::is_directory(path, ec)) path /= "config.json";  // a Hugging Face model folder
  return model_from(io::parse_json_file(path), path);
}

Hardware load_hardware(const std::string& spec) {
  const fs::path path = resolve(spec, "hardware", "hardware");
  return hardware_from(io::parse_json_file(path), path.string());
}

// ---- Contexts --------------------------------------------------------------------------------

namespace {

// "32k" -> 32768, "1m" -> 1048576, "8192" -> 8192, "1.5k" -> 1536: decimal digits with an
// optional fraction and suffix, whole tokens in the context range.
std::optional<double> tokens_in(const std::string& t) {
  double mult = 1;
  std::string num = t;
  if (!num.empty()) {
    const char last = static_cast<char>(std::tolower(static_cast<unsigned char>(num.back())));
    if (last == 'k') mult = 1024, num.pop_back();
    else if (last == 'm') mult = 1024 * 1024, num.pop_back();
  }
  if (num.empty() || num.find_first_not_of("0123456789.") != std::string::npos) return std::nullopt;
  const std::optional<double> v = number_in(num, {0, static_cast<double>(lim::kContextTokens.hi)});
  if (!v || std::floor(*v * mult) != *v * mult || !lim::Range{0, double(lim::kContextTokens.hi)}.contains(*v * mult))
    return std::nullopt;
  return *v * mult;
}

// FROM..TO by a factor (geometric, rounded to whole tokens) or by a step (arithmetic).
// Messages carry no prefix: the caller names the option or the JSON path.
std::vector<double> context_range(double from, double to, bool geometric, double by) {
  if (to < from) throw InputError(fmt::format("the range {:.0f} to {:.0f} ends before it starts", from, to));
  // The count first: a factor near 1 would otherwise spin long before the values part.
  const double terms = std::floor((geometric ? std::log(to / from) / std::log(by) : (to - from) / by) * (1 + 1e-12)) + 1;
  if (!(terms <= static_cast<double>(lim::kMaxContexts)))
    throw InputError(fmt::format("expected at most {} context lengths, the range gives {:.0f}", lim::kMaxContexts, terms));
  std::vector<double> out;
  for (long long i = 0; i < static_cast<long long>(terms); ++i) {
    const double c = geometric ? std::round(from * std::pow(by, static_cast<double>(i))) : from + static_cast<double>(i) * by;
    if (c > to || (!out.empty() && c == out.back())) continue;  // rounding: a small factor repeats a count
    out.push_back(c);
  }
  return out;
}

void check_unique_contexts(const std::vector<double>& contexts, const std::string& where) {
  if (static_cast<long long>(contexts.size()) > lim::kMaxContexts)
    throw InputError(fmt::format("{}: expected at most {} context lengths, got {}", where, lim::kMaxContexts, contexts.size()));
  std::vector<double> sorted = contexts;
  std::sort(sorted.begin(), sorted.end());
  if (const auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end())
    throw InputError(fmt::format("{}: context {:.0f} is listed twice", where, *dup));
}

}  // namespace

std::vector<double> parse_contexts(const std::string& text) {
  const std::string shown = printable(text);
  auto token = [&](const std::string& t) {
    if (const auto v = tokens_in(t)) return *v;
    throw InputError(fmt::format("--context: expected whole token counts in {} like 8192, 32k, 1m or ranges 8k:1m:x2, got '{}'",
                                 lim::to_string(lim::kContextTokens), shown));
  };
  std::vector<double> out;
  for (const std::string& item : split_list(text)) {
    if (static_cast<long long>(out.size()) > lim::kMaxContexts) break;  // refused below
    const size_t c1 = item.find(':');
    if (c1 == std::string::npos) {
      out.push_back(token(item));
      continue;
    }
    const size_t c2 = item.find(':', c1 + 1);
    const char op = c2 == std::string::npos || c2 + 2 > item.size() ? '?' : item[c2 + 1];
    if (op != 'x' && op != '+')
      throw InputError(fmt::format("--context: a range is FROM:TO:xFACTOR or FROM:TO:+STEP, got '{}'", printable(item)));
    const double from = token(item.substr(0, c1)), to = token(item.substr(c1 + 1, c2 - c1 - 1));
    const std::string by = item.substr(c2 + 2);
    const std::optional<double> step = op == 'x' ? number_in(by, {1, 1024}) : tokens_in(by);
    if (!step)
      throw InputError(fmt::format("--context: {} in '{}': expected {}", op == 'x' ? "factor" : "step", printable(item),
                                   op == 'x' ? "a number in (1, 1024]" : "a whole token count"));
    try {
      for (double c : context_range(from, to, op == 'x', *step)) out.push_back(c);
    } catch (const InputError& e) {
      throw InputError(fmt::format("--context: '{}': {}", printable(item), e.what()));
    }
  }
  if (out.empty()) throw InputError(fmt::format("--context: no context lengths in '{}'", shown));
  check_unique_contexts(out, "--context");
  return out;
}

// ---- Lists -----------------------------------------------------------------------------------

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  std::stringstream ss(s);
  while (std::getline(ss, cur, ','))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

std::vector<SweepFamily> parse_sweep_families(const std::string& list) {
  if (list.empty() || list == "all") return {std::begin(kSweepFamilies), std::end(kSweepFamilies)};
  const std::vector<std::string> names = split_list(list);
  // an empty name ("prefill," or ",,") is a slip, not a family: refused rather than skipped
  if (names.size() != static_cast<size_t>(std::count(list.begin(), list.end(), ',')) + 1)
    throw InputError(fmt::format("--only: '{}': expected a family name between every two commas", printable(list, 64)));
  std::vector<SweepFamily> out;
  for (const std::string& name : names) {
    const auto f = std::find_if(std::begin(kSweepFamilies), std::end(kSweepFamilies),
                                [&](SweepFamily x) { return name == sweep_family_name(x); });
    if (f == std::end(kSweepFamilies))
      throw InputError(fmt::format("--only: '{}': expected a comma-separated list of decode, fp4, mtp, prefill, gemm, moe, layer (or all)",
                                   printable(name, 64)));
    if (!has_family(out, *f)) out.push_back(*f);
  }
  return out;
}

namespace {

// Each spec loaded, at most kMaxListItems, no id twice (a repeated chip would be searched again).
template <class Item, class Load>
std::vector<Item> load_list(const std::string& csv_specs, const std::string& option, const char* what, Load load) {
  const std::vector<std::string> specs = split_list(csv_specs);
  if (specs.empty()) throw InputError(fmt::format("{}: no {} given", option, what));
  if (static_cast<long long>(specs.size()) > lim::kMaxListItems)
    throw InputError(fmt::format("{}: expected at most {} {}s, got {}", option, lim::kMaxListItems, what, specs.size()));
  std::vector<Item> out;
  for (const std::string& s : specs) {
    Item item = load(s);
    for (const Item& before : out)
      if (before.id == item.id) throw InputError(fmt::format("{}: {} '{}' is given twice", option, what, item.id));
    out.push_back(std::move(item));
  }
  return out;
}

}  // namespace

std::vector<Model> load_models(const std::string& csv_specs, const std::string& option) {
  return load_list<Model>(csv_specs, option, "model", load_model);
}

std::vector<Hardware> load_hardware_list(const std::string& csv_specs, const std::string& option) {
  return load_list<Hardware>(csv_specs, option, "chip", load_hardware);
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
    case Analysis::what_if: return "what_if";
  }
  return "?";
}

// ---- Scenarios -------------------------------------------------------------------------------

namespace {

// The TPOT and its stages, common to the network and budget blocks; the caller reads the rest.
PipelineSla read_tpot(ObjectReader& r) {
  PipelineSla sla;
  sla.tpot_ms = r.opt_number("tpot_ms", lim::kTpotMs).value_or(sla.tpot_ms);
  sla.stages = static_cast<int>(r.opt_integer("stages", lim::kStages, sla.stages));
  return sla;
}

PipelineSla parse_sla(ObjectReader& parent, const std::string& key) {
  if (!parent.has(key)) return {};
  ObjectReader r = parent.object(key);
  PipelineSla sla = read_tpot(r);
  sla.nic_efficiency = r.opt_number("nic_efficiency", lim::kFraction).value_or(sla.nic_efficiency);
  sla.instance_gpus = static_cast<int>(r.opt_integer("instance_gpus", lim::kInstanceGpus, sla.instance_gpus));
  r.finish();
  return sla;
}

// Ids resolve through the data folders; relative paths against the scenario's folder first.
std::string scenario_relative(const std::string& spec, const fs::path& scenario_path) {
  if (!looks_like_path(spec) || fs::path(spec).is_absolute()) return spec;
  fs::path p = scenario_path.parent_path() / spec;
  std::error_code ec;
  return fs::exists(p, ec) ? p.string() : spec;
}

Scenario scenario_from(const json& j, const std::string& file) {
  ObjectReader r(j, file, "$");
  Scenario s;
  s.file = file;
  s.name = r.string("name");
  // Each model or chip loads on its own; its errors are prefixed with where the scenario names it.
  auto list = [&](ObjectReader& in, const std::string& key, auto load, auto& out) {
    const json& a = in.array(key, lim::kMaxListItems);
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string where = fmt::format("{}: {}[{}]", in.file(), in.path_of(key), i);
      if (!a[i].is_string() || a[i].get_ref<const std::string&>().empty())
        throw InputError(fmt::format("{}: expected an id or path string, got {}", where, io::describe(a[i])));
      try {
        out.push_back(load(scenario_relative(a[i].get<std::string>(), file)));
      } catch (const InputError& e) {
        throw InputError(fmt::format("{}: {}", where, e.what()));
      }
      for (size_t k = 0; k + 1 < out.size(); ++k)
        if (out[k].id == out.back().id)
          throw InputError(fmt::format("{}: '{}' is already listed at {}[{}]", where, out.back().id, in.path_of(key), k));
    }
  };
  list(r, "models", load_model, s.models);
  list(r, "hardware", load_hardware, s.hardware);

  const json& ctx = r.raw("contexts");
  if (ctx.is_array()) {
    const json& a = r.array("contexts", lim::kMaxContexts);
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string path = fmt::format("{}[{}]", r.path_of("contexts"), i);
      s.contexts.push_back(static_cast<double>(io::checked_integer(a[i], lim::kContextTokens, r.file(), path)));
      for (size_t k = 0; k < i; ++k)
        if (s.contexts[k] == s.contexts[i])
          throw InputError(fmt::format("{}: {}: {} is already listed at $.contexts[{}]", r.file(), path, a[i].dump(), k));
    }
  } else {
    ObjectReader c = r.object("contexts");
    const long long from = c.integer("from", lim::kContextTokens), to = c.integer("to", lim::kContextTokens);
    if (to < from) c.fail_value("to", fmt::format("at least from ({})", from), json(to));
    if (c.has("factor") == c.has("step")) c.fail("factor", "expected exactly one of factor or step");
    const bool geometric = c.has("factor");
    const double by = geometric ? c.number("factor", {1, 1024}) : static_cast<double>(c.integer("step", lim::kContextTokens));
    c.finish();
    try {
      s.contexts = context_range(static_cast<double>(from), static_cast<double>(to), geometric, by);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: $.contexts: {}", r.file(), e.what()));
    }
  }

  const json& an = r.array("analyses", 16);
  for (size_t i = 0; i < an.size(); ++i) {
    bool ok = false;
    for (Analysis a : {Analysis::census, Analysis::cost, Analysis::afd, Analysis::sparsity, Analysis::budget, Analysis::plan,
                       Analysis::plots, Analysis::what_if})
      if (an[i].is_string() && an[i].get_ref<const std::string&>() == analysis_name(a)) {
        for (size_t k = 0; k < s.analyses.size(); ++k)
          if (s.analyses[k] == a)
            throw InputError(fmt::format("{}: $.analyses[{}]: \"{}\" is already listed at $.analyses[{}]", r.file(), i,
                                         analysis_name(a), k));
        s.analyses.push_back(a), ok = true;
      }
    if (!ok)
      throw InputError(fmt::format("{}: $.analyses[{}]: expected one of census, cost, afd, sparsity, budget, plan, plots, what_if, got {}",
                                   r.file(), i, io::describe(an[i])));
  }
  // One cost figure per context: a plot set grows with them.
  if (std::find(s.analyses.begin(), s.analyses.end(), Analysis::plots) != s.analyses.end() &&
      static_cast<long long>(s.contexts.size()) > lim::kMaxPlotContexts)
    throw InputError(fmt::format("{}: $.contexts: expected at most {} context lengths with \"plots\" (one figure each), got {}",
                                 r.file(), lim::kMaxPlotContexts, s.contexts.size()));
  s.network = parse_sla(r, "network");
  if (r.has("budget")) {
    ObjectReader b = r.object("budget");
    s.budget = read_tpot(b);
    s.ffn_batch_tokens = b.opt_number("ffn_batch_tokens", lim::kTokens).value_or(0);
    if (b.opt_bool("whole_o_proj", false)) s.budget_convention = BudgetConvention::whole_o_proj();
    b.finish();
  }
  if (r.has("plan")) {
    ObjectReader pl = r.object("plan");
    s.plan_top = static_cast<int>(pl.opt_integer("top", lim::kTopRows, s.plan_top));
    if (auto by = pl.opt_string("rank_by")) {
      if (*by != "usd" && *by != "tgs") pl.fail_value("rank_by", "usd or tgs", json(*by));
      s.plan_rank_by_usd = *by == "usd";
    }
    pl.finish();
  }
  const bool what_if = std::find(s.analyses.begin(), s.analyses.end(), Analysis::what_if) != s.analyses.end();
  if (r.has("what_if") || what_if) {
    if (!what_if) r.fail("what_if", "only with \"what_if\" in $.analyses");
    ObjectReader w = r.object("what_if");
    const json& ds = w.array("deployments", lim::kMaxListItems);
    for (size_t i = 0; i < ds.size(); ++i) {
      const std::string where = fmt::format("{}: {}[{}]", w.file(), w.path_of("deployments"), i);
      if (!ds[i].is_string()) throw InputError(fmt::format("{}: expected a deployment (xAyF, EPn or TPn), got {}", where, io::describe(ds[i])));
      try {
        s.what_if.deployments.push_back(parse_deployment(ds[i].get<std::string>()));
      } catch (const InputError& e) {
        throw InputError(fmt::format("{}: {}", where, e.what()));
      }
    }
    if (s.what_if.deployments.empty()) w.fail("deployments", "expected at least one deployment");
    s.what_if.mtp_draft_tokens = static_cast<int>(w.opt_integer("mtp_draft_tokens", {1, lim::kMtpDraftTokens.hi}, 1));
    const json& acc = w.array("acceptances", lim::kMaxListItems);
    for (size_t i = 0; i < acc.size(); ++i) {
      if (!acc[i].is_number() || !lim::kAcceptance.contains(acc[i].get<double>()))
        throw InputError(fmt::format("{}: {}[{}]: expected an acceptance in {}, got {}", w.file(), w.path_of("acceptances"), i,
                                     lim::to_string(lim::kAcceptance), io::describe(acc[i])));
      s.what_if.acceptances.push_back(acc[i].get<double>());
    }
    s.what_if.kv_dtype = parse_dtype(w, "kv_dtype", Dtype::fp4);
    w.finish();
  }
  if (r.has("plots")) {
    ObjectReader pl = r.object("plots");
    if (pl.has("pareto_models")) list(pl, "pareto_models", load_model, s.pareto_models);
    pl.finish();
  }
  if (r.has("output")) {
    ObjectReader o = r.object("output");
    if (auto d = o.opt_string("dir")) {
      // A scenario file may come from anywhere: its folder stays under the current one. `--out`
      // on the command line, the user's own choice, may name any folder.
      const fs::path dir(*d);
      const bool escapes = std::any_of(dir.begin(), dir.end(), [](const fs::path& part) { return part == ".."; });
      if (dir.empty() || dir.is_absolute() || dir.has_root_name() || dir.has_root_directory() || escapes)
        o.fail_value("dir", "a relative folder without '..', resolved against the current folder (give --out to write elsewhere)",
                     json(*d));
      s.out_dir = *d;
    }
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

}  // namespace

Scenario parse_scenario(const std::string& text, const std::string& file) {
  return scenario_from(io::parse_json_text(text, file), file);
}

namespace {

ServingStack serving_from(const json& j, const std::string& file) {
  ObjectReader r(j, file, "$");
  ServingStack s;
  s.id = check_id(r, file);
  r.string("source");
  r.opt_string("_note");
  if (r.has("sampler")) {
    // An empty list: no sampling kernels (a run that samples nothing).
    const json& a = r.raw("sampler");
    if (!a.is_array() || a.size() > lim::kMaxSamplerPasses) r.fail_value("sampler", fmt::format("a list of at most {} passes", lim::kMaxSamplerPasses), a);
    s.sampler.clear();
    for (size_t i = 0; i < a.size(); ++i) {
      ObjectReader p(a[i], r.source(), r.path_of("sampler") + fmt::format("[{}]", i));
      SamplerPass pass;
      pass.name = p.name("name");
      pass.read_bytes_per_logit = p.number("read_bytes_per_logit", lim::kBytesPerLogit);
      pass.write_bytes_per_logit = p.number("write_bytes_per_logit", lim::kBytesPerLogit);
      p.opt_string("source");
      p.finish();
      s.sampler.push_back(pass);
    }
  }
  if (const std::optional<std::string> g = r.opt_string("graphs")) {
    if (*g == "step") s.graphs = GraphScope::step;
    else if (*g == "stage") s.graphs = GraphScope::stage;
    else r.fail_value("graphs", "\"step\" or \"stage\"", r.raw("graphs"));
  }
  s.graph_gap_us = r.opt_number("graph_gap_us", lim::kHostUs).value_or(s.graph_gap_us);
  s.event_wait_us = r.opt_number("event_wait_us", lim::kHostUs).value_or(s.event_wait_us);
  s.host_step_us = r.opt_number("host_step_us", lim::kHostUs).value_or(s.host_step_us);
  s.overlap = r.opt_bool("overlap", s.overlap);
  s.sync_gap_us = r.opt_number("sync_gap_us", lim::kHostUs).value_or(s.sync_gap_us);
  r.finish();
  return s;
}

}  // namespace

ServingStack parse_serving_stack(const std::string& text, const std::string& file) {
  return serving_from(io::parse_json_text(text, file), file);
}

ServingStack load_serving_stack(const std::string& spec) {
  if (spec == "none") return no_serving_overhead();  // the kernels alone
  const fs::path path = resolve(spec, "serving", "serving stack");
  return serving_from(io::parse_json_file(path), path.string());
}

Scenario load_scenario(const std::string& spec) {
  const fs::path path = resolve(spec, "scenarios", "scenario");
  return scenario_from(io::parse_json_file(path), path.string());
}

}  // namespace decodesim
