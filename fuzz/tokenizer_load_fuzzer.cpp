// tokenizer.json (+ tokenizer_config.json) loading, then encode/decode with whatever was loaded
// (src/text). Tokenizer::Load reads files, so the parts go to two reused scratch files.
// Input: "tokenizer.json[SEP text[SEP tokenizer_config.json]]"; without a third part there is no
// tokenizer_config.json.
#include <string>
#include <vector>

#include "dsvl/error.h"
#include "fuzz_util.h"
#include "text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = dsvl::fuzz::SplitParts(data, size, 3);
  const std::string path = dsvl::fuzz::WriteScratchFile("tokenizer.json", parts[0]);
  if (parts.size() > 2) {
    dsvl::fuzz::WriteScratchFile("tokenizer_config.json", parts[2]);
  } else {
    dsvl::fuzz::RemoveScratchFile("tokenizer_config.json");
  }
  std::unique_ptr<dsvl::Tokenizer> tok;
  try {
    tok = dsvl::Tokenizer::Load(path);
  } catch (const dsvl::Error& e) {
    dsvl::fuzz::NoteRejection(e);
    return 0;
  }
  const std::string_view text = parts.size() > 1 ? parts[1] : std::string_view("Hello world! 123 <image>");
  for (bool special : {false, true}) {
    try {
      const std::vector<int64_t> ids = tok->Encode(text, special);
      (void)tok->Decode(ids, !special);
    } catch (const dsvl::Error& e) {
      dsvl::fuzz::NoteRejection(e);
    }
  }
  // Ids around the vocabulary, unknown ones included.
  std::vector<int64_t> ids;
  for (int64_t i = -2; i < tok->vocab_size() + 2 && i < 64; ++i) ids.push_back(i);
  try {
    (void)tok->Decode(ids, false);
    (void)tok->Decode(ids, true);
    dsvl::StreamDecoder stream(*tok);
    for (int64_t id : ids) (void)stream.Push(id);
    (void)stream.Flush();
  } catch (const dsvl::Error& e) {
    dsvl::fuzz::NoteRejection(e);
  }
  return 0;
}
