#include "model/inspect.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>

#include "dsvl/error.h"
#include "io/safetensors.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// The config as the files state it, without looking at the weights: the manifest built from it is
// then an independent expectation of what the weights must be (LoadModelConfig takes some widths
// from the weights, which would make a wrong shape look right). Same files as LoadModelConfig.
ModelConfig ConfigFromFiles(const fs::path& root) {
  const json config = ReadJsonFile((root / "config.json").string());
  const bool vl1 = config.is_object() && config.value("model_type", "") == "multi_modality";
  const fs::path proc_path = root / (vl1 ? "preprocessor_config.json" : "processor_config.json");
  std::error_code ec;
  std::optional<json> processor, tiny_arch;
  if (fs::exists(proc_path, ec)) processor = ReadJsonFile(proc_path.string());
  if (fs::exists(root / "tiny_arch.json", ec))
    tiny_arch = ReadJsonFile((root / "tiny_arch.json").string());
  ModelConfig c =
      ParseModelConfig((root / "config.json").string(), config, processor ? &*processor : nullptr,
                       tiny_arch ? &*tiny_arch : nullptr, nullptr);
  c.dir = root.string();
  return c;
}

std::string Count(int64_t n) {
  char buf[32];
  const double v = static_cast<double>(n);
  if (n >= 1000000000)
    std::snprintf(buf, sizeof buf, "%.2fB", v / 1e9);
  else if (n >= 1000000)
    std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else if (n >= 1000)
    std::snprintf(buf, sizeof buf, "%.1fK", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  return buf;
}

std::string Bytes(uint64_t n) {
  char buf[32];
  const double v = static_cast<double>(n);
  if (n >= (uint64_t{1} << 30))
    std::snprintf(buf, sizeof buf, "%.2f GiB", v / (1u << 30));
  else if (n >= (uint64_t{1} << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", v / (1u << 20));
  else if (n >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", v / 1024);
  else
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  return buf;
}

const char* TopkName(MoeTopkMethod m) {
  switch (m) {
    case MoeTopkMethod::kGreedy:
      return "greedy";
    case MoeTopkMethod::kGroupLimitedGreedy:
      return "group_limited_greedy";
    case MoeTopkMethod::kNoauxTc:
      return "noaux_tc";
  }
  return "?";
}

const char* ProjectorName(ProjectorType t) {
  switch (t) {
    case ProjectorType::kMlpGelu:
      return "mlp_gelu";
    case ProjectorType::kLowHighHybridSplitMlpGelu:
      return "low_high_hybrid_split_mlp_gelu";
    case ProjectorType::kDownsampleMlpGelu:
      return "downsample_mlp_gelu";
  }
  return "?";
}

ojson ShapeJson(const Shape& s) {
  ojson a = ojson::array();
  for (int i = 0; i < s.rank; ++i) a.push_back(s[i]);
  return a;
}

ojson LanguageJson(const LlmConfig& l, ModelFamily family) {
  ojson j;
  j["architecture"] = family == ModelFamily::kDeepSeekVL ? "Llama" : "DeepseekV2";
  j["layers"] = l.num_layers;
  j["hidden_size"] = l.hidden_size;
  j["intermediate_size"] = l.intermediate_size;
  j["heads"] = l.num_heads;
  j["kv_heads"] = l.num_kv_heads;
  j["vocab_size"] = l.vocab_size;
  if (l.attention == AttentionKind::kMla) {
    j["attention"] = "MLA";
    j["q_lora_rank"] = l.mla.q_lora_rank > 0 ? ojson(l.mla.q_lora_rank) : ojson(nullptr);
    j["kv_lora_rank"] = l.mla.kv_lora_rank;
    j["qk_nope_head_dim"] = l.mla.qk_nope_head_dim;
    j["qk_rope_head_dim"] = l.mla.qk_rope_head_dim;
    j["v_head_dim"] = l.mla.v_head_dim;
  } else {
    j["attention"] = "MHA";
    j["head_dim"] = l.head_dim;
  }
  if (l.moe.n_routed_experts > 0) {
    const MoeConfig& m = l.moe;
    j["moe"] = {{"routed_experts", m.n_routed_experts},
                {"experts_per_token", m.experts_per_token},
                {"shared_experts", m.n_shared_experts},
                {"moe_intermediate_size", m.moe_intermediate_size},
                {"first_k_dense_replace", m.first_k_dense_replace},
                {"gate_scoring", m.scoring == MoeScoring::kSigmoid ? "sigmoid" : "softmax"},
                {"topk_method", TopkName(m.topk_method)},
                {"n_group", m.n_group},
                {"topk_group", m.topk_group},
                {"norm_topk_prob", m.norm_topk_prob},
                {"routed_scaling_factor", m.routed_scaling_factor}};
  }
  return j;
}

std::string LanguageText(const LlmConfig& l, ModelFamily family) {
  std::ostringstream s;
  s << (family == ModelFamily::kDeepSeekVL ? "Llama" : "DeepseekV2") << ": " << l.num_layers
    << " layers, hidden " << l.hidden_size << ", " << l.num_heads << " heads, ";
  if (l.attention == AttentionKind::kMla) {
    s << "MLA (q_lora " << (l.mla.q_lora_rank > 0 ? std::to_string(l.mla.q_lora_rank) : "none")
      << ", kv_lora " << l.mla.kv_lora_rank << ", qk " << l.mla.qk_nope_head_dim << "+"
      << l.mla.qk_rope_head_dim << " rope, v " << l.mla.v_head_dim << ")";
  } else {
    s << "MHA (" << l.num_kv_heads << " kv heads, head dim " << l.head_dim << ")";
  }
  s << ", vocab " << l.vocab_size;
  if (l.moe.n_routed_experts > 0) {
    const MoeConfig& m = l.moe;
    s << "\n              MoE: " << m.n_routed_experts << " routed experts (width "
      << m.moe_intermediate_size << "), top-" << m.experts_per_token << ", " << m.n_shared_experts
      << " shared, gate " << (m.scoring == MoeScoring::kSigmoid ? "sigmoid" : "softmax") << " "
      << TopkName(m.topk_method);
    if (m.n_group > 1) s << " (" << m.n_group << " groups, top " << m.topk_group << ")";
    if (m.norm_topk_prob) s << ", renormalised";
    if (m.routed_scaling_factor != 1.0f) s << ", scale " << m.routed_scaling_factor;
    s << "; first " << m.first_k_dense_replace << " layer(s) dense (width " << l.intermediate_size
      << ")";
  } else {
    s << ", MLP width " << l.intermediate_size;
  }
  return s.str();
}

std::string SiglipText(const VitConfig& v) {
  std::ostringstream s;
  s << "SigLIP ViT " << v.image_size << " px, patch " << v.patch_size << " (" << v.num_patches()
    << " tokens), width " << v.width << ", " << v.layers << " layers, " << v.heads << " heads, MLP "
    << v.mlp_hidden << ", GELU " << (v.gelu == GeluKind::kTanh ? "tanh" : "erf");
  return s.str();
}

std::string SamText(const SamConfig& m) {
  std::ostringstream s;
  s << "SAM ViT " << m.image_size << " px, patch " << m.patch_size << ", width " << m.width << ", "
    << m.depth << " layers, " << m.heads << " heads, window " << m.window_size << ", neck "
    << m.neck_channels << ", downsample " << m.downsample_channels[0] << "->"
    << m.downsample_channels[1];
  return s.str();
}

std::string ProjectorText(const ProjectorConfig& p) {
  std::ostringstream s;
  s << ProjectorName(p.type) << ", depth " << p.depth << ", input " << p.input_dim << ", n_embed "
    << p.n_embed;
  if (p.type == ProjectorType::kDownsampleMlpGelu) {
    s << ", " << p.downsample_ratio << "x" << p.downsample_ratio << " merge, mlp_ratio "
      << p.mlp_ratio;
  }
  return s.str();
}

}  // namespace

const char* TensorProblemKindName(TensorProblem::Kind kind) {
  switch (kind) {
    case TensorProblem::Kind::kMissing:
      return "missing";
    case TensorProblem::Kind::kUnexpected:
      return "unexpected";
    case TensorProblem::Kind::kWrongShape:
      return "wrong shape";
  }
  return "?";
}

std::vector<TensorProblem> CheckTensors(const std::vector<ExpectedTensor>& manifest,
                                        const WeightStore& weights) {
  std::vector<TensorProblem> problems;
  std::set<std::string> expected;
  for (const ExpectedTensor& t : manifest) {
    expected.insert(t.name);
    const WeightInfo* w = weights.Find(t.name);
    if (!w) {
      problems.push_back({TensorProblem::Kind::kMissing, t.name, t.shape, Shape(), ""});
    } else if (w->view.shape != t.shape) {
      problems.push_back(
          {TensorProblem::Kind::kWrongShape, t.name, t.shape, w->view.shape, w->file});
    }
  }
  for (const auto& [name, w] : weights.tensors()) {
    if (!expected.count(name))
      problems.push_back({TensorProblem::Kind::kUnexpected, name, Shape(), w.view.shape, w.file});
  }
  std::stable_sort(problems.begin(), problems.end(),
                   [](const TensorProblem& a, const TensorProblem& b) {
                     return a.kind != b.kind ? a.kind < b.kind : a.name < b.name;
                   });
  return problems;
}

InspectReport InspectModel(const std::string& dir) {
  InspectReport r;
  r.dir = dir;
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    Throw(ErrorCode::kNotFound, ErrorContext{dir, "", "a model directory", "not a directory", ""});
  }
  r.config = ConfigFromFiles(root);
  r.manifest = ExpectedTensors(r.config);
  r.params = CountParameters(r.config, r.manifest);

  auto weights = WeightStore::Open(dir);
  std::map<std::string, TensorClass> classes;
  for (const ExpectedTensor& t : r.manifest) classes[t.name] = t.cls;
  std::set<std::string> files;
  for (const auto& [name, w] : weights->tensors()) {
    auto cls = classes.find(name);
    r.tensors.push_back({name, DTypeName(w.view.dtype), w.view.shape, w.view.nbytes(),
                         cls == classes.end() ? "" : TensorClassName(cls->second)});
    ++r.checkpoint_tensors;
    r.checkpoint_params += w.view.numel();
    DTypeStats& d = r.dtypes[DTypeName(w.view.dtype)];
    ++d.tensors;
    d.params += w.view.numel();
    d.bytes += w.view.nbytes();
    files.insert(w.file);
  }
  for (const auto& f : files) {
    r.weight_files.push_back(fs::path(f).filename().string());
    r.file_bytes += fs::file_size(f, ec);
  }
  r.problems = CheckTensors(r.manifest, *weights);
  // Also run the engine's own loader: it cross-checks config and weights its own way.
  const Status load = Capture([&] { (void)LoadModelConfig(dir, *weights); });
  if (!load.ok()) r.load_error = load.message();
  return r;
}

std::string FormatInspectReport(const InspectReport& r, bool list_tensors) {
  const ModelConfig& c = r.config;
  std::ostringstream s;
  s << "model         " << r.dir << "\n";
  s << "family        "
    << (c.family == ModelFamily::kDeepSeekVL ? "DeepSeek-VL (multi_modality)"
                                             : "DeepSeek-VL2 (deepseek_vl_v2)")
    << ", torch_dtype " << c.torch_dtype << "\n";
  s << "language      " << LanguageText(c.llm, c.family) << "\n";
  if (c.sam) s << "vision high   " << SamText(*c.sam) << "\n";
  if (c.siglip) s << (c.sam ? "vision low    " : "vision        ") << SiglipText(*c.siglip) << "\n";
  s << "projector     " << ProjectorText(c.projector) << "\n";
  const ParameterCounts& p = r.params;
  s << "parameters    " << Count(p.total) << " total (language " << Count(p.language) << ", vision "
    << Count(p.vision) << ", projector " << Count(p.projector) << "; never read " << Count(p.unused)
    << ")";
  if (p.active != p.total) s << ", active per token " << Count(p.active);
  s << "\n";
  for (const auto& [name, d] : r.dtypes) {
    s << "dtype         " << name << ": " << d.tensors << " tensors, " << Count(d.params)
      << " params, " << Bytes(d.bytes) << "\n";
  }
  // A quantised checkpoint: which type each class of tensor got (model/quant_policy.h).
  bool quantized = false;
  for (const TensorEntry& t : r.tensors) quantized = quantized || t.dtype.rfind("Q", 0) == 0;
  if (quantized) {
    std::map<std::string, std::map<std::string, int>> by_class;
    for (const TensorEntry& t : r.tensors) ++by_class[t.cls.empty() ? "not in manifest" : t.cls][t.dtype];
    for (const auto& [cls, types] : by_class) {
      s << "  " << cls << ":";
      for (const auto& [type, n] : types) s << " " << type << " x" << n;
      s << "\n";
    }
  }
  if (list_tensors) {
    for (const TensorEntry& t : r.tensors)
      s << "  " << t.name << " " << t.dtype << " " << t.shape.ToString() << " " << Bytes(t.bytes) << "\n";
  }
  s << "files         " << r.weight_files.size() << " weight file(s), " << Bytes(r.file_bytes)
    << "\n";
  s << "tensors       " << r.manifest.size() << " expected, " << r.checkpoint_tensors
    << " in checkpoint (" << Count(r.checkpoint_params) << " params): ";
  if (r.problems.empty()) {
    s << "all present with the expected shapes\n";
  } else {
    size_t counts[3] = {0, 0, 0};
    for (const auto& q : r.problems) ++counts[static_cast<int>(q.kind)];
    s << counts[0] << " missing, " << counts[1] << " unexpected, " << counts[2]
      << " with a wrong shape\n";
    for (const auto& q : r.problems) {
      switch (q.kind) {
        case TensorProblem::Kind::kMissing:
          s << "  missing     " << q.name << " " << q.expected.ToString() << "\n";
          break;
        case TensorProblem::Kind::kUnexpected:
          s << "  unexpected  " << q.name << " " << q.actual.ToString() << "\n";
          break;
        case TensorProblem::Kind::kWrongShape:
          s << "  wrong shape " << q.name << ": expected " << q.expected.ToString() << ", got "
            << q.actual.ToString() << "\n";
          break;
      }
    }
  }
  if (!r.load_error.empty()) s << "load error    " << r.load_error << "\n";
  s << "status        " << (r.ok() ? "OK" : "PROBLEMS FOUND") << "\n";
  return s.str();
}

ojson InspectReportJson(const InspectReport& r) {
  const ModelConfig& c = r.config;
  ojson j;
  j["dir"] = r.dir;
  j["family"] = c.family == ModelFamily::kDeepSeekVL ? "deepseek-vl" : "deepseek-vl2";
  j["torch_dtype"] = c.torch_dtype;
  j["language"] = LanguageJson(c.llm, c.family);
  ojson vision = ojson::object();
  if (c.sam) {
    vision["sam"] = {
        {"image_size", c.sam->image_size},
        {"patch_size", c.sam->patch_size},
        {"width", c.sam->width},
        {"layers", c.sam->depth},
        {"heads", c.sam->heads},
        {"window_size", c.sam->window_size},
        {"neck_channels", c.sam->neck_channels},
        {"downsample_channels", {c.sam->downsample_channels[0], c.sam->downsample_channels[1]}}};
  }
  if (c.siglip) {
    vision["siglip"] = {{"image_size", c.siglip->image_size},
                        {"patch_size", c.siglip->patch_size},
                        {"width", c.siglip->width},
                        {"layers", c.siglip->layers},
                        {"heads", c.siglip->heads},
                        {"mlp_hidden", c.siglip->mlp_hidden},
                        {"gelu", c.siglip->gelu == GeluKind::kTanh ? "tanh" : "erf"}};
  }
  j["vision"] = vision;
  j["projector"] = {{"type", ProjectorName(c.projector.type)},
                    {"depth", c.projector.depth},
                    {"input_dim", c.projector.input_dim},
                    {"n_embed", c.projector.n_embed},
                    {"mlp_ratio", c.projector.mlp_ratio},
                    {"downsample_ratio", c.projector.downsample_ratio}};
  const ParameterCounts& p = r.params;
  j["parameters"] = {{"total", p.total},
                     {"active_per_token", p.active},
                     {"language", p.language},
                     {"vision", p.vision},
                     {"projector", p.projector},
                     {"unused", p.unused},
                     {"routed_experts", p.routed_experts},
                     {"checkpoint", r.checkpoint_params}};
  ojson dtypes = ojson::object();
  for (const auto& [name, d] : r.dtypes)
    dtypes[name] = {{"tensors", d.tensors}, {"params", d.params}, {"bytes", d.bytes}};
  j["dtypes"] = dtypes;
  ojson tensor_list = ojson::array();
  for (const TensorEntry& t : r.tensors) {
    tensor_list.push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", ShapeJson(t.shape)},
                           {"bytes", t.bytes}, {"class", t.cls.empty() ? ojson(nullptr) : ojson(t.cls)}});
  }
  j["tensor_list"] = tensor_list;
  j["files"] = r.weight_files;
  j["file_bytes"] = r.file_bytes;
  j["tensors"] = {{"expected", r.manifest.size()}, {"checkpoint", r.checkpoint_tensors}};
  ojson problems = ojson::array();
  for (const auto& q : r.problems) {
    ojson e;
    e["kind"] = q.kind == TensorProblem::Kind::kMissing      ? "missing"
                : q.kind == TensorProblem::Kind::kUnexpected ? "unexpected"
                                                             : "wrong_shape";
    e["name"] = q.name;
    if (q.kind != TensorProblem::Kind::kUnexpected) e["expected"] = ShapeJson(q.expected);
    if (q.kind != TensorProblem::Kind::kMissing) e["actual"] = ShapeJson(q.actual);
    if (!q.file.empty()) e["file"] = q.file;
    problems.push_back(e);
  }
  j["problems"] = problems;
  j["load_error"] = r.load_error.empty() ? ojson(nullptr) : ojson(r.load_error);
  j["ok"] = r.ok();
  return j;
}

}  // namespace dsvl
