#include "io/safetensors.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dsvl/error.h"

namespace dsvl {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr uint64_t kMaxElements = uint64_t{1} << 53;

bool ParseDType(const std::string& s, DType* out) {
  if (s == "F32") *out = DType::kF32;
  else if (s == "BF16") *out = DType::kBF16;
  else if (s == "F16") *out = DType::kF16;
  else if (s == "Q8_0") *out = DType::kQ8_0;
  else if (s == "Q4_0") *out = DType::kQ4_0;
  else if (s == "Q4_K") *out = DType::kQ4_K;
  else return false;
  return true;
}

// A block-quantised tensor's f16 scales (docs/quantization.md): every block's `d` (and Q4_K's
// `dmin`) must be finite, so a corrupt file is refused at load rather than producing NaN logits.
// One pass over the blocks; reads only the 2 or 4 scale bytes of each.
void CheckQuantScales(const std::string& file, const std::string& name, DType dt, const uint8_t* data,
                      int64_t blocks) {
  const DTypeInfo& info = GetDTypeInfo(dt);
  const int scales = dt == DType::kQ4_K ? 2 : 1;  // d, then dmin
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* block = data + static_cast<size_t>(b) * static_cast<size_t>(info.block_bytes);
    for (int s = 0; s < scales; ++s) {
      const uint16_t h = static_cast<uint16_t>(block[2 * s] | (block[2 * s + 1] << 8));
      if ((h & 0x7c00u) != 0x7c00u) continue;  // exponent all ones: inf or NaN
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%04x", h);
      Throw(ErrorCode::kCorruptData,
            ErrorContext{file, "tensor '" + name + "' block " + std::to_string(b) + (s ? " dmin" : " scale d"),
                         "a finite f16", std::string(hex) + ((h & 0x3ffu) ? " (NaN)" : " (inf)"), ""});
    }
  }
}

}  // namespace

void WeightStore::AddFile(const std::string& file, const SafetensorsLimits& limits) {
  auto map = std::make_unique<MappedFile>(MappedFile::Open(file));
  const uint8_t* base = map->data();
  const size_t size = map->size();
  auto fail = [&](const std::string& field, const std::string& expected, const std::string& actual,
                  const std::string& detail = "") {
    Throw(ErrorCode::kCorruptData, ErrorContext{file, field, expected, actual, detail});
  };
  if (size < 8) fail("header length", ">= 8 bytes of file", std::to_string(size) + " bytes");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > limits.max_header_bytes)
    fail("header length", "<= " + std::to_string(limits.max_header_bytes), std::to_string(header_len));
  if (header_len > size - 8)
    fail("header length", "<= " + std::to_string(size - 8) + " (file size - 8)", std::to_string(header_len),
         "file truncated?");
  json header = json::parse(base + 8, base + 8 + header_len, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) fail("header", "a JSON object", "invalid JSON");
  if (!header.is_object()) fail("header", "a JSON object", std::string("a JSON ") + header.type_name());
  const size_t data_begin = 8 + static_cast<size_t>(header_len);
  const size_t data_size = size - data_begin;
  struct Range { size_t b, e; std::string name; };
  std::vector<Range> ranges;
  if (header.size() > limits.max_tensors)
    fail("tensor count", "<= " + std::to_string(limits.max_tensors), std::to_string(header.size()));
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const json& t = it.value();
    auto tfail = [&](const std::string& field, const std::string& expected, const std::string& actual) {
      Throw(ErrorCode::kCorruptData, ErrorContext{file, "tensor '" + name + "' " + field, expected, actual, ""});
    };
    if (!t.is_object()) tfail("entry", "object", t.type_name());
    if (!t.contains("dtype")) tfail("dtype", "string", "missing");
    if (!t["dtype"].is_string()) tfail("dtype", "string", t["dtype"].dump());
    DType dt;
    std::string ds = t["dtype"].get<std::string>();
    if (!ParseDType(ds, &dt))
      Throw(ErrorCode::kUnsupported,
            ErrorContext{file, "tensor '" + name + "' dtype", "F32, BF16 or F16 (or dsvl's block types Q8_0, Q4_0, Q4_K)", ds, ""});
    if (!t.contains("shape")) tfail("shape", "array", "missing");
    if (!t["shape"].is_array()) tfail("shape", "array", t["shape"].dump());
    const json& js = t["shape"];
    if (js.size() > static_cast<size_t>(kMaxRank)) tfail("shape", "rank <= 4", std::to_string(js.size()));
    Shape shape;
    uint64_t numel = 1;
    for (const json& d : js) {
      if (!d.is_number_unsigned()) tfail("shape", "non-negative integers", d.dump());
      uint64_t v = d.get<uint64_t>();
      // 2^53 elements bounds the byte size (<= 8 bytes each) far below 2^64, so the size check
      // below cannot wrap around and accept a huge shape over a tiny data range.
      if (v > kMaxElements || (v != 0 && numel > kMaxElements / v)) tfail("shape", "element count <= 2^53", js.dump());
      numel *= v;
      shape[shape.rank++] = static_cast<int64_t>(v);
    }
    if (!t.contains("data_offsets") || !t["data_offsets"].is_array() || t["data_offsets"].size() != 2 ||
        !t["data_offsets"][0].is_number_unsigned() || !t["data_offsets"][1].is_number_unsigned())
      tfail("data_offsets", "[begin, end]", t.value("data_offsets", json()).dump());
    uint64_t b = t["data_offsets"][0].get<uint64_t>(), e = t["data_offsets"][1].get<uint64_t>();
    if (b > e || e > data_size)
      tfail("data_offsets", "begin <= end <= " + std::to_string(data_size),
            "[" + std::to_string(b) + ", " + std::to_string(e) + "]");
    if (IsQuantized(dt)) {
      // Rows of whole blocks: the logical shape [..., K] with K a multiple of the block.
      const int block = GetDTypeInfo(dt).block_elems;
      if (shape.rank < 1) tfail("shape", "rank >= 1 for " + ds, shape.ToString());
      if (shape[shape.rank - 1] % block != 0)
        tfail("shape", "last dimension a multiple of " + std::to_string(block) + " for " + ds, shape.ToString());
    }
    uint64_t want = DTypeBytes(dt, static_cast<int64_t>(numel));
    if (e - b != want)
      tfail("byte size", std::to_string(want) + " (" + ds + " x " + shape.ToString() + ")", std::to_string(e - b));
    if (tensors_.count(name)) tfail("name", "unique across shards", "duplicate");
    if (IsQuantized(dt))
      CheckQuantScales(file, name, dt, base + data_begin + b,
                       static_cast<int64_t>(numel) / GetDTypeInfo(dt).block_elems);
    ranges.push_back({static_cast<size_t>(b), static_cast<size_t>(e), name});
    WeightInfo info{name, file, TensorView(dt, shape, base + data_begin + b)};
    tensors_.emplace(name, std::move(info));
  }
  // Each non-empty range must start at or after the end of every earlier one (sorted by start; the
  // furthest end so far, not just the previous range's, so an empty tensor cannot hide an overlap).
  std::sort(ranges.begin(), ranges.end(), [](const Range& x, const Range& y) { return x.b < y.b; });
  const Range* furthest = nullptr;
  for (const Range& r : ranges) {
    if (r.e == r.b) continue;
    if (furthest && r.b < furthest->e)
      fail("data_offsets", "non-overlapping tensors", "'" + furthest->name + "' overlaps '" + r.name + "'");
    if (!furthest || r.e > furthest->e) furthest = &r;
  }
  files_.push_back(std::move(map));
}

std::unique_ptr<WeightStore> WeightStore::Open(const std::string& path, const SafetensorsLimits& limits) {
  auto store = std::make_unique<WeightStore>();
  store->source_ = path;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    store->AddFile(path, limits);
    return store;
  }
  fs::path dir(path);
  fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index, ec)) {
    json j = json::parse(ReadFileToString(index.string(), limits.max_index_bytes), nullptr, false);
    if (j.is_discarded() || !j.contains("weight_map") || !j["weight_map"].is_object())
      Throw(ErrorCode::kCorruptData, ErrorContext{index.string(), "weight_map", "object", "missing or invalid", ""});
    std::vector<std::string> shards;
    for (auto& [name, shard] : j["weight_map"].items()) {
      if (!shard.is_string())
        Throw(ErrorCode::kCorruptData, ErrorContext{index.string(), "weight_map." + name, "file name", shard.dump(), ""});
      std::string s = shard.get<std::string>();
      if (s.find('/') != std::string::npos || s.find("..") != std::string::npos)
        Throw(ErrorCode::kCorruptData, ErrorContext{index.string(), "weight_map." + name, "a file name in the model directory", s, ""});
      if (std::find(shards.begin(), shards.end(), s) == shards.end()) shards.push_back(s);
    }
    for (const auto& s : shards) {
      const fs::path shard_path = dir / s;
      if (!fs::is_regular_file(shard_path, ec)) {
        std::string first;  // a tensor mapped to it, to name the field
        for (auto& [name, shard] : j["weight_map"].items())
          if (shard.get<std::string>() == s) { first = name; break; }
        Throw(ErrorCode::kNotFound, ErrorContext{index.string(), "weight_map." + first, "an existing shard file",
                                                 s + " (not found in " + dir.string() + ")", ""});
      }
      store->AddFile(shard_path.string(), limits);
    }
    for (auto& [name, shard] : j["weight_map"].items()) {
      const std::string expected_file = (dir / shard.get<std::string>()).string();
      auto it = store->tensors_.find(name);
      if (it == store->tensors_.end())
        Throw(ErrorCode::kCorruptData, ErrorContext{index.string(), "weight_map." + name, "tensor present in " + shard.get<std::string>(), "absent", ""});
      if (it->second.file != expected_file)
        Throw(ErrorCode::kCorruptData,
              ErrorContext{index.string(), "weight_map." + name, "tensor present in " + shard.get<std::string>(),
                           "absent there (found in " + fs::path(it->second.file).filename().string() + ")", ""});
    }
    return store;
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty())
    Throw(ErrorCode::kNotFound, ErrorContext{path, "", "model.safetensors or model.safetensors.index.json", "none", ""});
  for (const auto& f : files) store->AddFile(f, limits);
  return store;
}

const WeightInfo* WeightStore::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorView& WeightStore::Get(const std::string& name) const {
  const WeightInfo* w = Find(name);
  if (!w) Throw(ErrorCode::kNotFound, ErrorContext{source_, "tensor '" + name + "'", "present", "missing", ""});
  return w->view;
}

const TensorView& WeightStore::Get(const std::string& name, const Shape& expected) const {
  const TensorView& v = Get(name);
  if (v.shape != expected)
    Throw(ErrorCode::kCorruptData,
          ErrorContext{Find(name)->file, "tensor '" + name + "' shape", expected.ToString(), v.shape.ToString(), ""});
  return v;
}

void WeightStore::ReleasePages(const std::string& name) const {
  const WeightInfo* w = Find(name);
  if (!w) return;
  const uint8_t* b = static_cast<const uint8_t*>(w->view.data);
  const uint8_t* e = b + w->view.nbytes();
  for (const auto& f : files_) {
    if (b < f->data() || e > f->data() + f->size()) continue;  // only mapped files, never heap memory
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t first = (reinterpret_cast<uintptr_t>(b) + page - 1) / page * page;
    const uintptr_t last = reinterpret_cast<uintptr_t>(e) / page * page;
    // A read-only private mapping: dropped pages are simply read from the file again if touched.
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
    return;
  }
}

void WeightStore::Replace(const std::string& name, Tensor owned) {
  auto it = tensors_.find(name);
  if (it == tensors_.end())
    Throw(ErrorCode::kNotFound, ErrorContext{source_, "tensor '" + name + "'", "present", "missing", ""});
  if (owned.shape() != it->second.view.shape)
    Throw(ErrorCode::kInvalidArgument, ErrorContext{source_, "tensor '" + name + "' replacement shape",
                                                    it->second.view.shape.ToString(), owned.shape().ToString(), ""});
  ReleasePages(name);
  it->second.view = owned.view();
  owned_[name] = std::move(owned);
}

size_t WeightStore::total_bytes() const {
  size_t n = 0;
  for (const auto& [k, w] : tensors_) n += w.view.nbytes();
  return n;
}

void WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    json shape = json::array();
    for (int i = 0; i < t.view.rank(); ++i) shape.push_back(t.view.shape[i]);
    uint64_t n = t.view.nbytes();
    header[t.name] = {{"dtype", DTypeName(t.view.dtype)}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');  // keep tensor data 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "cannot create"});
  uint64_t len = h.size();
  char lenbuf[8];
  for (int i = 0; i < 8; ++i) lenbuf[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  out.write(lenbuf, 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const auto& t : tensors) out.write(static_cast<const char*>(t.view.data), static_cast<std::streamsize>(t.view.nbytes()));
  if (!out) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "write failed (disk full?)"});
}

}  // namespace dsvl
