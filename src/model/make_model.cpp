#include "model/make_model.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/mapped_file.h"
#include "dsvl/error.h"
#include "model/arch_presets.h"
#include "model/quantize.h"
#include "model/synthetic_tokenizer.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

// Weights: uniform with the standard deviation of the usual N(0, 0.02) init (half-width
// 0.02*sqrt(3)). Uniform is cheaper than Gaussian and keeps every value bounded, so activations of
// a random model stay finite through dozens of layers.
constexpr float kWeightHalfWidth = 0.02f * 1.7320508f;
constexpr size_t kChunkElems = size_t{1} << 20;

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t HashName(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// xoshiro256+ (Blackman & Vigna): fast, good enough for random weights.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : s_) s = SplitMix64(seed);
  }
  uint64_t Next() {
    const uint64_t result = s_[0] + s_[3];
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = (s_[3] << 45) | (s_[3] >> 19);
    return result;
  }

 private:
  uint64_t s_[4];
};

void WriteJson(const fs::path& path, const ojson& j) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) Throw(ErrorCode::kIo, ErrorContext{path.string(), "", "", "", "cannot create"});
  const std::string text = j.dump(2) + "\n";
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out)
    Throw(ErrorCode::kIo, ErrorContext{path.string(), "", "", "", "write failed (disk full?)"});
}

// A manifest tensor and the dtype it is written in.
struct TensorToMake {
  const ExpectedTensor* t;
  DType dtype;
  uint64_t bytes() const { return DTypeBytes(dtype, t->shape.numel()); }
};

// Fills `out` (f32, bf16 or f16 elements) with the next `n` values of tensor t.
void GenerateChunk(const ExpectedTensor& t, DType dtype, Rng& rng, size_t n,
                   std::vector<uint8_t>& out) {
  out.resize(DTypeBytes(dtype, static_cast<int64_t>(n)));
  auto put = [&](size_t i, float v) {
    if (dtype == DType::kF32) {
      std::memcpy(out.data() + 4 * i, &v, 4);
    } else {
      const uint16_t b = dtype == DType::kF16 ? F32ToF16(v) : F32ToBf16(v);
      std::memcpy(out.data() + 2 * i, &b, 2);
    }
  };
  switch (t.init) {
    case TensorInit::kOnes:
      for (size_t i = 0; i < n; ++i) put(i, 1.0f);
      break;
    case TensorInit::kZeros:
      std::fill(out.begin(), out.end(), uint8_t{0});
      break;
    case TensorInit::kNormal:
      for (size_t i = 0; i < n; i += 2) {
        const uint64_t r = rng.Next();
        // Two 24-bit uniforms in [0, 1) per 64-bit draw, mapped to [-a, a).
        const float u0 = static_cast<float>(r >> 40) * 0x1p-24f;
        const float u1 = static_cast<float>((r >> 16) & 0xffffff) * 0x1p-24f;
        put(i, (2.0f * u0 - 1.0f) * kWeightHalfWidth);
        if (i + 1 < n) put(i + 1, (2.0f * u1 - 1.0f) * kWeightHalfWidth);
      }
      break;
  }
}

std::string SafetensorsHeader(const std::vector<TensorToMake>& tensors) {
  ojson header;
  header["__metadata__"] = {{"format", "pt"}};
  for (const TensorToMake& m : tensors)
    if (IsQuantized(m.dtype))
      for (const auto& [k, v] : QuantContainerMetadata("dsvl make-model")) header["__metadata__"][k] = v;
  uint64_t offset = 0;
  for (const TensorToMake& m : tensors) {
    ojson shape = ojson::array();
    for (int i = 0; i < m.t->shape.rank; ++i) shape.push_back(m.t->shape[i]);
    const uint64_t n = m.bytes();
    header[m.t->name] = {
        {"dtype", DTypeName(m.dtype)}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string h = header.dump();
  while (h.size() % 8 != 0)
    h.push_back(' ');  // tensor data 8-byte aligned, as safetensors writes it
  return h;
}

void WriteShard(const fs::path& path, const std::vector<TensorToMake>& tensors, uint64_t seed,
                uint64_t& done, uint64_t total, const WriteProgress& progress, ThreadPool* pool) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) Throw(ErrorCode::kIo, ErrorContext{path.string(), "", "", "", "cannot create"});
  auto check = [&] {
    if (!out)
      Throw(ErrorCode::kIo, ErrorContext{path.string(), "", "", "", "write failed (disk full?)"});
  };
  const std::string header = SafetensorsHeader(tensors);
  char len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<char>((static_cast<uint64_t>(header.size()) >> (8 * i)) & 0xff);
  out.write(len, 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  check();
  std::vector<uint8_t> chunk, quantized;
  const std::string file = path.filename().string();
  for (const TensorToMake& m : tensors) {
    const ExpectedTensor* t = m.t;
    Rng rng(seed ^ HashName(t->name));
    const size_t numel = static_cast<size_t>(t->shape.numel());
    // Block types: whole rows per chunk (their values drawn in the same order as a float
    // tensor's, since rows are an even number of values), quantised in parallel.
    const size_t cols = static_cast<size_t>(t->shape[t->shape.rank - 1]);
    const size_t step = IsQuantized(m.dtype) ? std::max<size_t>(1, kChunkElems / cols) * cols : kChunkElems;
    for (size_t begin = 0; begin < numel; begin += step) {
      const size_t n = std::min(step, numel - begin);
      if (IsQuantized(m.dtype)) {
        GenerateChunk(*t, DType::kF32, rng, n, chunk);
        const int64_t rows = static_cast<int64_t>(n / cols);
        const TensorView rows_f32(DType::kF32, Shape{rows, static_cast<int64_t>(cols)}, chunk.data());
        quantized.resize(DTypeBytes(m.dtype, static_cast<int64_t>(n)));
        const size_t row_bytes = DTypeBytes(m.dtype, static_cast<int64_t>(cols));
        pool->ParallelFor(rows, 16, [&](int64_t r0, int64_t r1) {
          std::vector<float> row(cols);
          ConvertRows(rows_f32, m.dtype, r0, r1, quantized.data() + static_cast<size_t>(r0) * row_bytes, row.data());
        });
        out.write(reinterpret_cast<const char*>(quantized.data()), static_cast<std::streamsize>(quantized.size()));
        done += quantized.size();
      } else {
        GenerateChunk(*t, m.dtype, rng, n, chunk);
        out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
        done += chunk.size();
      }
      check();
      if (progress) progress(done, total, file);
    }
  }
  out.close();
  check();
}

std::string ShardName(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

nlohmann::json ToJson(const ojson& j) {
  return j.is_null() ? nlohmann::json() : nlohmann::json::parse(j.dump());
}

ModelConfig ConfigFromPreset(const ArchPreset& p) {
  const nlohmann::json config = ToJson(p.config);
  const nlohmann::json processor =
      ToJson(p.family == ModelFamily::kDeepSeekVL ? p.preprocessor : p.processor);
  const nlohmann::json tiny_arch = ToJson(p.tiny_arch);
  return ParseModelConfig(p.arch + " preset config.json", config, &processor,
                          p.tiny_arch.is_null() ? nullptr : &tiny_arch, nullptr);
}

// Removes weights a previous run left in the directory (a stale index would shadow new files).
void RemoveOldWeights(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool weights = name == "model.safetensors.index.json" ||
                         (name.rfind("model", 0) == 0 && e.path().extension() == ".safetensors");
    if (weights && e.is_regular_file()) fs::remove(e.path(), ec);
  }
}

struct TokenizerFile {
  std::string text;  // tokenizer.json contents
  int64_t max_id = -1;
};

TokenizerFile MakeTokenizer(const MakeModelOptions& o, const ArchPreset& p) {
  if (o.tokenizer.empty()) {
    SyntheticTokenizerSpec spec;
    spec.style = p.tokenizer_style;
    spec.specials = p.specials;
    // The real vocabulary's extent, so every id lines up with the real model's (at full size the
    // BPE part is small and the rest are fillers).
    spec.model_vocab_end = p.tokenizer_vocab_end;
    const nlohmann::json tok = BuildSyntheticTokenizer(spec);
    return {tok.dump(p.tiny ? 2 : -1) + "\n", MaxTokenId(tok)};
  }
  std::error_code ec;
  std::string path = o.tokenizer;
  if (fs::is_directory(path, ec)) path = (fs::path(path) / "tokenizer.json").string();
  nlohmann::json tok =
      nlohmann::json::parse(ReadFileToString(path), nullptr, /*allow_exceptions=*/false);
  if (tok.is_discarded())
    Throw(ErrorCode::kCorruptData, ErrorContext{path, "", "valid JSON", "a parse error", ""});
  AddSpecialTokens(tok, p.specials, path);
  // Compact: a real tokenizer.json is megabytes, and indentation would double it.
  return {tok.dump(), MaxTokenId(tok)};
}

}  // namespace

ModelConfig PresetModelConfig(const std::string& arch, bool tiny, DType dtype) {
  return ConfigFromPreset(GetArchPreset(arch, tiny, /*real_token_ids=*/false, dtype));
}

WrittenCheckpoint WriteRandomCheckpoint(const std::string& dir,
                                        const std::vector<ExpectedTensor>& manifest, DType dtype,
                                        uint64_t seed, uint64_t max_shard_bytes,
                                        const WriteProgress& progress, const QuantOptions& quant) {
  if (dtype != DType::kBF16 && dtype != DType::kF32 && dtype != DType::kF16) {
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{dir, "dtype", "BF16, F32 or F16", DTypeName(dtype), ""});
  }
  // Plan the shards first: greedy in manifest order, so a layer's tensors stay together.
  std::vector<std::vector<TensorToMake>> shards(1);
  uint64_t shard_bytes = 0, total = 0;
  bool any_quantized = false;
  for (const ExpectedTensor& t : manifest) {
    const TensorToMake m{&t, quant.any() ? PlannedDType(t, dtype, quant) : dtype};
    any_quantized = any_quantized || IsQuantized(m.dtype);
    const uint64_t n = m.bytes();
    if (!shards.back().empty() && shard_bytes + n > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(m);
    shard_bytes += n;
    total += n;
  }
  const fs::path root(dir);
  std::error_code ec;
  const fs::space_info space = fs::space(root, ec);
  if (!ec && space.available < total + (uint64_t{1} << 20)) {
    Throw(ErrorCode::kIo,
          ErrorContext{dir, "free disk space", "at least " + std::to_string(total) + " bytes",
                       std::to_string(space.available) + " bytes", ""});
  }
  std::unique_ptr<ThreadPool> pool;
  if (any_quantized) pool = std::make_unique<ThreadPool>(0);
  WrittenCheckpoint written;
  written.bytes = total;
  uint64_t done = 0;
  if (shards.size() == 1) {
    WriteShard(root / "model.safetensors", shards[0], seed, done, total, progress, pool.get());
    written.files.push_back("model.safetensors");
    return written;
  }
  ojson weight_map = ojson::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string name = ShardName(i, shards.size());
    WriteShard(root / name, shards[i], seed, done, total, progress, pool.get());
    written.files.push_back(name);
    for (const TensorToMake& m : shards[i]) weight_map[m.t->name] = name;
  }
  ojson index;
  index["metadata"] = {{"total_size", total}};
  index["weight_map"] = std::move(weight_map);
  WriteJson(root / "model.safetensors.index.json", index);
  written.files.push_back("model.safetensors.index.json");
  return written;
}

MakeModelResult MakeModel(const MakeModelOptions& o) {
  if (o.out_dir.empty())
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"make-model", "--out", "a directory", "empty", ""});
  const ArchPreset preset =
      GetArchPreset(o.arch, o.tiny, /*real_token_ids=*/!o.tokenizer.empty(), o.dtype);
  MakeModelResult result;
  result.config = ConfigFromPreset(preset);
  const std::vector<ExpectedTensor> manifest = ExpectedTensors(result.config);
  result.params = CountParameters(result.config, manifest);

  // Build the tokenizer before touching the output directory, so a bad --tokenizer leaves it alone.
  const TokenizerFile tokenizer = MakeTokenizer(o, preset);
  if (tokenizer.max_id >= preset.vocab_size) {
    Throw(
        ErrorCode::kInvalidArgument,
        ErrorContext{o.tokenizer.empty() ? "synthetic tokenizer" : o.tokenizer, "largest token id",
                     "below the model's vocab_size " + std::to_string(preset.vocab_size),
                     std::to_string(tokenizer.max_id), ""});
  }

  const fs::path root(o.out_dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec || !fs::is_directory(root, ec)) {
    Throw(ErrorCode::kIo, ErrorContext{o.out_dir, "", "", "", "cannot create directory"});
  }
  auto write = [&](const char* name, const ojson& j) {
    if (j.is_null()) return;
    WriteJson(root / name, j);
    result.files.push_back(name);
  };
  write("config.json", preset.config);
  write("tiny_arch.json", preset.tiny_arch);
  write("preprocessor_config.json", preset.preprocessor);
  write("processor_config.json", preset.processor);
  write("tokenizer_config.json", preset.tokenizer_config);
  {
    std::ofstream out(root / "tokenizer.json", std::ios::binary | std::ios::trunc);
    out.write(tokenizer.text.data(), static_cast<std::streamsize>(tokenizer.text.size()));
    if (!out)
      Throw(ErrorCode::kIo,
            ErrorContext{(root / "tokenizer.json").string(), "", "", "", "write failed"});
    result.files.push_back("tokenizer.json");
  }
  if (o.config_only) return result;

  RemoveOldWeights(root);
  const WrittenCheckpoint w =
      WriteRandomCheckpoint(o.out_dir, manifest, o.dtype, o.seed, o.max_shard_bytes, o.progress, o.quant);
  result.weight_bytes = w.bytes;
  result.files.insert(result.files.end(), w.files.begin(), w.files.end());
  result.config.dir = o.out_dir;
  return result;
}

}  // namespace dsvl
