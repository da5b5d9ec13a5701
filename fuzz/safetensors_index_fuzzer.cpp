// model.safetensors.index.json of a sharded checkpoint (WeightStore::Open on a directory). The
// directory holds two fixed, valid shards (written once); each input is the index file.
// a.safetensors: "x" F32 [2, 3], "y" BF16 [4]; b.safetensors: "z" F16 [1, 2], "w" F32 [0].
#include <filesystem>
#include <string>
#include <vector>

#include "dsvl/error.h"
#include "fuzz_util.h"
#include "io/safetensors.h"

namespace {

std::string MakeCheckpointDir() {
  using namespace dsvl;
  const std::string dir = fuzz::ScratchDir() + "/ckpt";
  std::filesystem::create_directories(dir);
  static const std::vector<uint8_t> bytes(64, 0x3c);
  WriteSafetensors(dir + "/a.safetensors", {{"x", TensorView(DType::kF32, Shape{2, 3}, bytes.data())},
                                            {"y", TensorView(DType::kBF16, Shape{4}, bytes.data())}});
  WriteSafetensors(dir + "/b.safetensors",
                   {{"z", TensorView(DType::kF16, Shape{1, 2}, bytes.data())},
                    {"w", TensorView(DType::kF32, Shape{0}, bytes.data())}},
                   {{"format", "pt"}});
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = MakeCheckpointDir();
  dsvl::fuzz::WriteScratchFile("ckpt/model.safetensors.index.json",
                               std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    auto store = dsvl::WeightStore::Open(dir);
    for (const auto& [name, info] : store->tensors()) (void)store->Get(name);
    (void)store->total_bytes();
  } catch (const dsvl::Error& e) {
    dsvl::fuzz::NoteRejection(e);
  }
  return 0;
}
