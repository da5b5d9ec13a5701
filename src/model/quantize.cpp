#include "model/quantize.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "dsvl/error.h"
#include "io/safetensors.h"
#include "io/safetensors_stream.h"
#include "kernels/ops.h"
#include "kernels/quant_formats.h"
#include "model/model_config.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;

bool IsWeightFile(const fs::path& p) {
  return p.extension() == ".safetensors" || p.filename() == "model.safetensors.index.json";
}

void Tally(QuantizeSummary& s, const TensorConversion& c) {
  const int64_t n = c.source.numel();
  ++s.tensors;
  s.params += n;
  s.bytes_before += c.source.nbytes();
  s.bytes_after += DTypeBytes(c.target, n);
  if (c.converted()) ++s.tensors_converted;
  if (IsQuantized(c.target)) s.params_quantized += n;
  ++s.tensors_by_type[DTypeName(c.target)];
}

}  // namespace

void ConvertRows(const TensorView& src, DType target, int64_t r0, int64_t r1, void* out, float* row) {
  const int64_t cols = src.cols();
  uint8_t* dst = static_cast<uint8_t*>(out);
  const size_t row_bytes = DTypeBytes(target, cols);
  for (int64_t r = r0; r < r1; ++r, dst += row_bytes) {
    kernels::ToF32(src, r * cols, cols, row);
    switch (target) {
      case DType::kF32:
        std::memcpy(dst, row, row_bytes);
        break;
      case DType::kBF16:
        for (int64_t i = 0; i < cols; ++i) {
          const uint16_t b = F32ToBf16(row[i]);
          std::memcpy(dst + 2 * i, &b, 2);
        }
        break;
      case DType::kF16:
        for (int64_t i = 0; i < cols; ++i) {
          const uint16_t h = F32ToF16(row[i]);
          std::memcpy(dst + 2 * i, &h, 2);
        }
        break;
      default:
        quant::QuantizeRow(target, row, cols, dst);
        break;
    }
  }
}

Tensor ConvertTensor(ThreadPool& pool, const TensorView& src, DType target) {
  if (IsQuantized(target) && !quant::QuantizableRowLength(target, src.cols()))
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"quantisation", "row length", std::string("a multiple of the ") +
                                                    DTypeName(target) + " block", std::to_string(src.cols()), ""});
  Tensor out = Tensor::Empty(target, src.shape);
  const int64_t cols = src.cols();
  const size_t row_bytes = DTypeBytes(target, cols);
  uint8_t* base = out.as<uint8_t>();
  // About 1M values per task: enough to outweigh handing it out, small enough to balance.
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(1, cols));
  pool.ParallelFor(src.rows(), grain, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(cols));  // once per range, at load time
    ConvertRows(src, target, r0, r1, base + static_cast<size_t>(r0) * row_bytes, row.data());
  });
  return out;
}

std::vector<TensorConversion> PlanConversions(const std::vector<ExpectedTensor>& manifest, const WeightStore& weights,
                                              const QuantOptions& options) {
  std::vector<TensorConversion> plan;
  std::set<std::string> seen;
  for (const ExpectedTensor& t : manifest) {
    const WeightInfo* w = weights.Find(t.name);
    if (!w || !seen.insert(t.name).second) continue;
    // The checkpoint's own shape: a mismatch is the loader's to report, the plan keeps it as is.
    ExpectedTensor actual = t;
    actual.shape = w->view.shape;
    plan.push_back({t.name, w->view, PlannedDType(actual, w->view.dtype, options)});
  }
  for (const auto& [name, w] : weights.tensors())
    if (!seen.count(name)) plan.push_back({name, w.view, w.view.dtype});
  return plan;
}

QuantizeSummary QuantizeInMemory(WeightStore& weights, const std::vector<ExpectedTensor>& manifest,
                                 const QuantOptions& options, ThreadPool& pool, const ConvertProgress& progress) {
  const std::vector<TensorConversion> plan = PlanConversions(manifest, weights, options);
  QuantizeSummary summary;
  int64_t done = 0;
  const int64_t total = static_cast<int64_t>(plan.size());
  for (const TensorConversion& c : plan) {
    Tally(summary, c);
    if (c.converted()) weights.Replace(c.name, ConvertTensor(pool, c.source, c.target));
    if (progress) progress(++done, total, c.name);
  }
  return summary;
}

std::map<std::string, std::string> QuantContainerMetadata(const std::string& writer) {
  // "format": "pt" as torch's save_file writes it, so tools that check it still see a normal file.
  return {{"format", "pt"}, {"dsvl.quant.version", kQuantContainerVersion}, {"dsvl.quant.writer", writer}};
}

QuantizeSummary QuantizeCheckpoint(const QuantizeCheckpointOptions& o) {
  std::error_code ec;
  if (o.model_dir.empty() || !fs::is_directory(o.model_dir, ec))
    Throw(ErrorCode::kNotFound, ErrorContext{o.model_dir, "-m", "a model directory", "not found", ""});
  if (o.out_dir.empty())
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"quantize", "--out", "a directory", "empty", ""});
  if (!o.quant.any())
    Throw(ErrorCode::kInvalidArgument, ErrorContext{"quantize", "--type", "q8_0, q4_0 or q4_k", "none", ""});
  const fs::path in(o.model_dir), out(o.out_dir);
  if (fs::exists(out, ec) && fs::equivalent(in, out, ec))
    Throw(ErrorCode::kInvalidArgument,
          ErrorContext{"quantize", "--out", "a directory other than the model's", o.out_dir, ""});
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec))
      Throw(ErrorCode::kInvalidArgument, ErrorContext{"quantize", "--out", "a directory", "an existing file", o.out_dir});
    if (!fs::is_empty(out, ec) && !o.force)
      Throw(ErrorCode::kInvalidArgument, ErrorContext{"quantize", "--out", "an empty or new directory",
                                                      o.out_dir + " (not empty)", "pass --force to overwrite"});
  }

  // Plan everything before writing anything: a refused tensor leaves --out untouched.
  std::unique_ptr<WeightStore> weights = WeightStore::Open(o.model_dir);
  const ModelConfig config = LoadModelConfig(o.model_dir, *weights);
  const std::vector<ExpectedTensor> manifest = ExpectedTensors(config);
  const std::vector<TensorConversion> plan = PlanConversions(manifest, *weights, o.quant);

  fs::create_directories(out, ec);
  if (!fs::is_directory(out, ec)) Throw(ErrorCode::kIo, ErrorContext{o.out_dir, "", "", "", "cannot create directory"});
  for (const auto& e : fs::directory_iterator(out, ec))
    if (e.is_regular_file() && IsWeightFile(e.path())) fs::remove(e.path(), ec);  // stale shards (--force)
  for (const auto& e : fs::directory_iterator(in, ec)) {
    if (!e.is_regular_file() || IsWeightFile(e.path())) continue;
    fs::copy_file(e.path(), out / e.path().filename(), fs::copy_options::overwrite_existing, ec);
    if (ec) Throw(ErrorCode::kIo, ErrorContext{(out / e.path().filename()).string(), "", "", "", "copy failed: " + ec.message()});
  }

  std::vector<PlannedTensor> planned;
  QuantizeSummary summary;
  for (const TensorConversion& c : plan) {
    planned.push_back({c.name, c.target, c.source.shape});
    Tally(summary, c);
  }
  const auto shards = PlanShards(planned, o.max_shard_bytes);
  const auto metadata = QuantContainerMetadata("dsvl quantize");
  ThreadPool pool(o.threads);
  int64_t done = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    std::vector<PlannedTensor> shard;
    for (size_t i : shards[s]) shard.push_back(planned[i]);
    SafetensorsStreamWriter writer((out / ShardFileName(s, shards.size())).string(), shard, metadata);
    for (size_t i : shards[s]) {
      const TensorConversion& c = plan[i];
      if (c.converted()) {
        const Tensor t = ConvertTensor(pool, c.source, c.target);
        writer.Append(t.view().data, t.view().nbytes());
      } else {
        writer.Append(c.source.data, c.source.nbytes());
      }
      weights->ReleasePages(c.name);
      if (o.progress) o.progress(++done, static_cast<int64_t>(plan.size()), c.name);
    }
    writer.Finish();
  }
  if (shards.size() > 1)
    WriteShardIndex((out / "model.safetensors.index.json").string(), planned, shards, summary.bytes_after);
  return summary;
}

}  // namespace dsvl
