// Encode/decode of arbitrary bytes with a fixed tokenizer (src/text: added-token matching, the
// Oniguruma pre-tokenizer, byte-level BPE, the word cache, UTF-8 repair, streaming decode).
// Input: one flag byte (bit 0: VL1 tokenizer, bit 1: add_special_tokens, bit 2: skip_special_tokens),
// then the text. The same bytes, read as 16-bit ids, are also decoded (unknown ids included).
// Checked properties: StreamDecoder output equals Decode (tokenizer.h promises it), and valid
// UTF-8 text survives Encode -> Decode unchanged (byte-level BPE is lossless; the fixtures' added
// tokens neither strip nor normalise).
#include <cstdio>
#include <string>
#include <vector>

#include "dsvl/error.h"
#include "fixture_tokenizers.h"
#include "fuzz_util.h"

namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer_encode: property violated: %s\n", what);
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const dsvl::Tokenizer& tok = (flags & 1) ? dsvl::fuzz::Vl1Tokenizer() : dsvl::fuzz::Vl2Tokenizer();
  const bool add_special = (flags & 2) != 0, skip_special = (flags & 4) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  try {
    const std::vector<int64_t> ids = tok.Encode(text, add_special);
    const std::string back = tok.Decode(ids, skip_special);
    if (!add_special && !skip_special) Check(back == text, "Decode(Encode(text)) == text");
  } catch (const dsvl::Error& e) {
    // Invalid UTF-8 is refused with kInvalidArgument.
    dsvl::fuzz::NoteRejection(e);
  }

  std::vector<int64_t> ids;
  for (size_t i = 1; i + 1 < size; i += 2) {
    ids.push_back(static_cast<int16_t>(data[i] | (data[i + 1] << 8)) % 1024);
  }
  const std::string decoded = tok.Decode(ids, skip_special);
  dsvl::StreamDecoder stream(tok, skip_special);
  std::string streamed;
  for (int64_t id : ids) streamed += stream.Push(id);
  streamed += stream.Flush();
  Check(streamed == decoded, "StreamDecoder == Decode");
  for (int64_t id : ids) (void)tok.IsSpecial(id);
  return 0;
}
