#include "io/safetensors_stream.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "dsvl/error.h"

namespace dsvl {

using ojson = nlohmann::ordered_json;

SafetensorsStreamWriter::SafetensorsStreamWriter(const std::string& path, const std::vector<PlannedTensor>& tensors,
                                                 const std::map<std::string, std::string>& metadata)
    : path_(path) {
  ojson header = ojson::object();
  if (!metadata.empty()) {
    ojson meta = ojson::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const PlannedTensor& t : tensors) {
    ojson shape = ojson::array();
    for (int i = 0; i < t.shape.rank; ++i) shape.push_back(t.shape[i]);
    const uint64_t n = t.bytes();
    header[t.name] = {{"dtype", DTypeName(t.dtype)}, {"shape", shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  expected_ = offset;
  std::string h = header.dump();
  while (h.size() % 8 != 0) h.push_back(' ');  // tensor data 8-byte aligned, as safetensors writes it
  out_.open(path, std::ios::binary | std::ios::trunc);
  if (!out_) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "cannot create"});
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((static_cast<uint64_t>(h.size()) >> (8 * i)) & 0xff);
  out_.write(len, 8);
  out_.write(h.data(), static_cast<std::streamsize>(h.size()));
  if (!out_) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "write failed (disk full?)"});
}

void SafetensorsStreamWriter::Append(const void* data, size_t n) {
  if (written_ + n > expected_)
    Throw(ErrorCode::kInternal, ErrorContext{path_, "tensor data", std::to_string(expected_) + " bytes",
                                             "more (" + std::to_string(written_ + n) + ")", ""});
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  if (!out_) Throw(ErrorCode::kIo, ErrorContext{path_, "", "", "", "write failed (disk full?)"});
  written_ += n;
}

void SafetensorsStreamWriter::Finish() {
  if (written_ != expected_)
    Throw(ErrorCode::kInternal, ErrorContext{path_, "tensor data", std::to_string(expected_) + " bytes",
                                             std::to_string(written_), ""});
  out_.close();
  if (!out_) Throw(ErrorCode::kIo, ErrorContext{path_, "", "", "", "write failed (disk full?)"});
}

std::vector<std::vector<size_t>> PlanShards(const std::vector<PlannedTensor>& tensors, uint64_t max_bytes) {
  std::vector<std::vector<size_t>> shards(1);
  uint64_t shard_bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t n = tensors[i].bytes();
    if (!shards.back().empty() && shard_bytes + n > max_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(i);
    shard_bytes += n;
  }
  return shards;
}

std::string ShardFileName(size_t index, size_t count) {
  if (count == 1) return "model.safetensors";
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return buf;
}

void WriteShardIndex(const std::string& path, const std::vector<PlannedTensor>& tensors,
                     const std::vector<std::vector<size_t>>& shards, uint64_t total_bytes) {
  ojson weight_map = ojson::object();
  for (size_t s = 0; s < shards.size(); ++s)
    for (size_t i : shards[s]) weight_map[tensors[i].name] = ShardFileName(s, shards.size());
  ojson index;
  index["metadata"] = {{"total_size", total_bytes}};
  index["weight_map"] = std::move(weight_map);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  const std::string text = index.dump(2) + "\n";
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "write failed (disk full?)"});
}

}  // namespace dsvl
