// A single .safetensors file (src/io/safetensors.cpp, WeightStore::AddFile). The parser maps a file,
// so each input is written to one reused scratch file.
// Input: either the raw file (8-byte little-endian header length, header, data), or, when it starts
// with '{', a header JSON that the harness frames itself: "header[SEP data]" becomes
// [len(header)][header][data], so the mutator spends its time on the JSON rather than the length.
#include <cstring>
#include <string>

#include "dsvl/error.h"
#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string file;
  if (size > 0 && data[0] == '{') {
    const auto parts = dsvl::fuzz::SplitParts(data, size, 2);
    const uint64_t len = parts[0].size();
    for (int i = 0; i < 8; ++i) file.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
    file.append(parts[0]);
    if (parts.size() > 1) file.append(parts[1]);
  } else {
    file.assign(reinterpret_cast<const char*>(data), size);
  }
  const std::string path = dsvl::fuzz::WriteScratchFile("model.safetensors", file);
  try {
    auto store = dsvl::WeightStore::Open(path);
    // Touch the first and last byte of every tensor: a view past the map is an ASan report.
    unsigned sum = 0;
    for (const auto& [name, info] : store->tensors()) {
      const size_t n = info.view.nbytes();
      const auto* p = static_cast<const uint8_t*>(info.view.data);
      if (n > 0) sum += p[0] + p[n - 1];
      (void)store->Get(name, info.view.shape);
    }
    (void)store->total_bytes();
    volatile unsigned sink = sum;
    (void)sink;
  } catch (const dsvl::Error& e) {
    dsvl::fuzz::NoteRejection(e);
  }
  return 0;
}
