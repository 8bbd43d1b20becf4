#include "hf_config.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "decodesim/census.hpp"
#include "decodesim/limits.hpp"
#include "decodesim/loader.hpp"

namespace decodesim::io::hf {

namespace fs = std::filesystem;

namespace {
// No field of any family is larger (the widest are context windows); each design is then held
// to its field's own range by check_model_ranges.
constexpr long long kLargest = limits::kContextTokens.hi;
// |v| <= kLargest, without llabs (undefined for the most negative int64).
bool within_largest(const json& v) {
  const long long x = v.get<long long>();
  return x >= -kLargest && x <= kLargest && !(v.is_number_unsigned() && v.get<unsigned long long>() > static_cast<unsigned long long>(kLargest));
}

std::string short_value(const json& v) {
  return v.is_array() && v.size() > 8 ? fmt::format("[{} entries]", v.size()) : describe(v);
}
}  // namespace

Fields::Fields(const json& j, std::string file, std::string path)
    : j_(j),
      reader_(j, std::move(file), path),
      prefix_(path == "$" ? "" : path.substr(2) + "."),
      used_(std::make_shared<std::vector<std::string>>()) {}

bool Fields::has(const std::string& key) const {
  const auto it = j_.find(key);
  return it != j_.end() && !it->is_null();
}

const json& Fields::get(const std::string& key) {
  const json& v = j_.at(key);
  used_->push_back(prefix_ + key + " " + short_value(v));
  return v;
}

void Fields::fail(const std::string& key, const std::string& what) const { reader_.fail(key, what); }

long Fields::required(const std::string& key) {
  if (!has(key)) fail(key, j_.contains(key) ? "expected a positive integer, got null" : "missing required field");
  const json& v = get(key);
  if (!v.is_number_integer() || v.get<long long>() <= 0 || v.get<long long>() > kLargest)
    reader_.fail_value(key, "a positive integer", v);
  return static_cast<long>(v.get<long long>());
}

long Fields::required_count(const std::string& key) {
  if (!has(key)) fail(key, j_.contains(key) ? "expected a non-negative integer, got null" : "missing required field");
  return nonneg_or(key, 0);
}

long Fields::or_default(const std::string& key, long dflt) { return has(key) ? required(key) : dflt; }

long Fields::integer_or(const std::string& key, long dflt) {
  if (!has(key)) return dflt;
  const json& v = get(key);
  if (!v.is_number_integer() || !within_largest(v)) reader_.fail_value(key, "an integer", v);
  return static_cast<long>(v.get<long long>());
}

long Fields::nonneg_or(const std::string& key, long dflt) {
  const long v = integer_or(key, dflt);
  if (v < 0) reader_.fail_value(key, "a non-negative integer", json(v));
  return v;
}

std::optional<long> Fields::nullable_or(const std::string& key, std::optional<long> dflt) {
  if (!j_.contains(key)) return dflt;
  if (j_.at(key).is_null()) {
    get(key);
    return std::nullopt;
  }
  return required(key);
}

bool Fields::flag_or(const std::string& key, bool dflt) {
  if (!has(key)) return dflt;
  const json& v = get(key);
  if (!v.is_boolean()) reader_.fail_value(key, "true or false", v);
  return v.get<bool>();
}

std::vector<int> Fields::layer_list(const std::string& key, int layers) {
  std::vector<int> out;
  if (!has(key)) return out;
  const json& v = get(key);
  const std::string expected = fmt::format("layer indices from 0 to {}", layers - 1);
  auto take = [&](long long index) {
    if (index < 0 || index >= layers) reader_.fail_value(key, expected, v);
    out.push_back(static_cast<int>(index));
  };
  if (v.is_string()) {  // Step-3 publishes "4,5,...,59"
    std::string item;
    const std::string text = v.get<std::string>() + ",";
    for (char ch : text) {
      if (ch != ',') {
        if (!std::isspace(static_cast<unsigned char>(ch))) item += ch;
        continue;
      }
      if (item.empty()) continue;
      if (item.size() > 9 || !std::all_of(item.begin(), item.end(), [](char d) { return std::isdigit(static_cast<unsigned char>(d)); }))
        reader_.fail_value(key, expected, v);
      take(std::stoll(item));
      item.clear();
    }
  } else if (v.is_array()) {
    for (const json& e : v) {
      if (!e.is_number_integer()) reader_.fail_value(key, expected, v);
      take(e.get<long long>());
    }
  } else {
    reader_.fail_value(key, "a list of " + expected, v);
  }
  return out;
}

namespace {
template <class T, class Check>
std::vector<T> per_layer(const json& v, const ObjectReader& r, const std::string& key, int layers, const char* what, Check ok) {
  if (!v.is_array() || v.size() < static_cast<size_t>(layers))
    r.fail_value(key, fmt::format("a list of {} with one entry per layer ({})", what, layers), v);
  std::vector<T> out;
  for (int l = 0; l < layers; ++l) {
    if (!ok(v[l])) r.fail(fmt::format("{}[{}]", key, l), fmt::format("expected {}, got {}", what, describe(v[l])));
    out.push_back(v[l].get<T>());
  }
  return out;
}
}  // namespace

std::vector<std::string> Fields::strings_per_layer(const std::string& key, int layers) {
  if (!has(key)) return {};
  return per_layer<std::string>(get(key), reader_, key, layers, "strings", [](const json& e) { return e.is_string(); });
}

std::vector<long> Fields::ints_per_layer(const std::string& key, int layers) {
  if (!has(key)) return {};
  return per_layer<long>(get(key), reader_, key, layers, "integers", [](const json& e) {
    return e.is_number_integer() && within_largest(e);
  });
}

std::string Fields::model_type() {
  if (!has("model_type")) fail("model_type", "missing required field");
  const json& v = j_.at("model_type");
  if (!v.is_string()) reader_.fail_value("model_type", "a string", v);
  return v.get<std::string>();
}

Fields Fields::sub(const std::string& key) {
  if (!has(key)) fail(key, "missing required field");
  const json& v = j_.at(key);
  if (!v.is_object()) reader_.fail_value(key, "an object", v);
  Fields f(v, reader_.file(), reader_.path_of(key));
  f.used_ = used_;
  return f;
}

std::string Fields::used() const {
  std::string out;
  for (const std::string& u : *used_) out += (out.empty() ? "" : ", ") + u;
  return out;
}

// ---- Building blocks ---------------------------------------------------------------------

Layers layers_of(Fields& c, bool tie_default) {
  Layers l;
  l.hidden_size = c.required("hidden_size");
  l.vocab_size = c.required("vocab_size");
  l.tie_embeddings = c.flag_or("tie_word_embeddings", tie_default);
  return l;
}

int layer_count(Fields& c) {
  const long layers = c.required("num_hidden_layers");
  if (layers > limits::kMaxLayers)
    c.fail("num_hidden_layers", fmt::format("expected at most {} layers, got {}", limits::kMaxLayers, layers));
  return static_cast<int>(layers);
}

AttentionSpec gqa(Fields& c, const std::string& name, long hidden_size, long head_dim_default) {
  AttentionSpec a;
  a.name = name;
  a.kind = AttentionKind::gqa;
  a.q_heads = static_cast<int>(c.required("num_attention_heads"));
  a.kv_heads = static_cast<int>(c.or_default("num_key_value_heads", a.q_heads));
  if (a.q_heads % a.kv_heads != 0)
    c.fail("num_key_value_heads", fmt::format("expected a divisor of num_attention_heads ({}), got {}", a.q_heads, a.kv_heads));
  const long fallback = head_dim_default > 0 ? head_dim_default : hidden_size / a.q_heads;
  if (fallback <= 0) c.fail("head_dim", fmt::format("missing, and hidden_size ({}) / num_attention_heads ({}) is 0", hidden_size, a.q_heads));
  a.head_dim = static_cast<int>(c.or_default("head_dim", fallback));
  return a;
}

AttentionSpec with_window(AttentionSpec a, AttentionScope scope, long window_tokens) {
  a.scope = scope;
  a.window_tokens = window_tokens;
  return a;
}

FfnSpec dense(const std::string& name, long intermediate) {
  FfnSpec f;
  f.name = name;
  f.kind = FfnKind::dense;
  f.intermediate = intermediate;
  return f;
}

FfnSpec moe(Fields& c, const std::string& name, const std::string& experts_key, const std::string& top_k_key, long width,
            long shared, long shared_width) {
  FfnSpec f;
  f.name = name;
  f.kind = FfnKind::moe;
  f.routed_experts = static_cast<int>(c.required(experts_key));
  f.top_k = static_cast<int>(c.required(top_k_key));
  if (f.top_k > f.routed_experts)
    c.fail(top_k_key, fmt::format("expected at most {} ({}), got {}", experts_key, f.routed_experts, f.top_k));
  f.expert_intermediate = width;
  f.shared_experts = shared_width > 0 ? static_cast<int>(shared) : 0;
  f.shared_intermediate = f.shared_experts > 0 ? shared_width : 0;
  return f;
}

// ---- From a config to a Model ------------------------------------------------------------

namespace {

// Lower-case letters, digits, '-', '.', '_': what a description's id may hold.
std::string as_id(const std::string& text) {
  std::string id;
  for (char ch : text) {
    const unsigned char u = static_cast<unsigned char>(ch);
    id += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : (ch == '.' || ch == '_' ? ch : '-');
  }
  return id;
}

// The config's folder name (or the file's stem when it is not config.json).
std::string id_from_path(const fs::path& config, const std::string& model_type) {
  const std::string id = as_id((config.filename() == "config.json" ? config.parent_path().filename() : config.stem()).string());
  // Cut to an id's length: it names table rows and, imported, a file.
  return (id.empty() || id == "." || id == ".." ? as_id(model_type) : id).substr(0, limits::kMaxIdLength);
}

// Layers with equal designs share one named type. A reader that gave two different designs
// one name gets them numbered.
template <class Spec>
std::vector<int> collect(const std::vector<Spec>& per_layer, std::vector<Spec>& types) {
  std::vector<int> index;
  for (const Spec& s : per_layer) {
    auto same = std::find_if(types.begin(), types.end(), [&](Spec t) {
      t.name = s.name;  // a numbered copy is still the same design
      return t == s;
    });
    if (same == types.end()) {
      types.push_back(s);
      auto taken = [&](const std::string& name) {
        return std::count_if(types.begin(), types.end(), [&](const Spec& t) { return t.name == name; }) > 1;
      };
      for (int n = 2; taken(types.back().name); ++n) types.back().name = fmt::format("{}-{}", s.name, n);
      same = types.end() - 1;
    }
    index.push_back(static_cast<int>(same - types.begin()));
  }
  return index;
}

// What the precisions follow, for the description's source.
std::string precisions_of(const HfImportOptions& o) {
  std::string given;
  for (const auto& [name, d] : {std::pair{"weights", o.weights}, std::pair{"kv", o.kv}, std::pair{"state", o.state}})
    if (d) given += fmt::format("{}{} {}", given.empty() ? "" : ", ", name, dtype_name(*d));
  return given.empty() ? "the Step-3 report's convention" : "the report's convention but " + given;
}

void apply(const HfImportOptions& o, Layers& l) {
  if (o.weights) l.quant.weights = l.quant.compute = *o.weights;
  if (o.kv) set_kv_dtype(l.attention, l.quant, *o.kv);
  if (o.state) l.quant.state = *o.state;
  for (AttentionSpec& a : l.attention)
    if (a.kind == AttentionKind::linear && o.state) a.cache_dtype.reset();
}

}  // namespace

bool is_hf_config(const json& j) {
  // Every description of ours has an id and attention types; every published config has some of these.
  return j.is_object() && !j.contains("id") && !j.contains("attention_types") &&
         (j.contains("model_type") || j.contains("architectures") || j.contains("num_hidden_layers"));
}

Model model_from_hf(const json& j, const fs::path& file, const HfImportOptions& options) {
  Fields c(j, file.string(), "$");
  const std::string type = c.model_type();
  const Reader read = reader_for(type);
  if (!read) {
    std::string known;
    for (const std::string& t : hf_model_types()) known += (known.empty() ? "" : ", ") + t;
    c.fail("model_type", fmt::format("unsupported model_type \"{}\" (supported: {})", type, known));
  }
  Layers l = read(c);
  apply(options, l);

  Model m;
  m.id = options.id.empty() ? id_from_path(file, type) : options.id;
  if (!is_plain_name(m.id))
    throw InputError(fmt::format("--id: expected lower-case letters, digits, '-', '.', '_' (at most {}), got '{}'",
                                 limits::kMaxIdLength, printable(m.id)));
  m.name = m.id;
  m.file = file.string();
  // The path is the user's: escaped and cut like any echoed text, so the description `import`
  // writes holds what the loader reads back (no control characters, at most 4096 bytes).
  m.source = printable(fmt::format("Hugging Face config {} (model_type {}); fields used: {}; precisions: {}",
                                   printable(file.string(), 512), type, c.used(), precisions_of(options)),
                       4000);
  m.hidden_size = l.hidden_size;
  m.vocab_size = l.vocab_size;
  m.tie_embeddings = l.tie_embeddings;
  m.layer_attention = collect(l.attention, m.attention_types);
  m.layer_ffn = collect(l.ffn, m.ffn_types);
  m.quant = l.quant;
  if (m.attention_types.size() > static_cast<size_t>(kMaxModelTypes) || m.ffn_types.size() > static_cast<size_t>(kMaxModelTypes))
    c.fail("num_hidden_layers", fmt::format("more than {} distinct attention or FFN designs", kMaxModelTypes));
  check_model_ranges(m, file.string());
  return m;
}

}  // namespace decodesim::io::hf

namespace decodesim {

Model load_hf_config(const std::string& path, const HfImportOptions& options) {
  std::filesystem::path p = path;
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) p /= "config.json";
  return io::hf::model_from_hf(io::parse_json_file(p), p, options);
}

}  // namespace decodesim
