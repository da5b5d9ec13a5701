// DeepSeek byte-level BPE tokenizer, read from a Hugging Face `tokenizers` tokenizer.json (generic
// interpretation of the file: BPE model, added tokens, Split/Digits/ByteLevel pre-tokenizers,
// ByteLevel decoder). Reproduces HF `encode(text, add_special_tokens)` and `decode(ids, skip)`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dsvl/error.h"

namespace dsvl {

namespace text {
class BpeModel;
class PreTokenizer;
class AddedVocab;
}  // namespace text

// Bounds on what a tokenizer.json may make dsvl read and allocate (docs/limits.md). Exceeding one
// throws kLimitExceeded naming the file, the limit and the value; the file size is checked before
// the file is read.
struct TokenizerLimits {
  // DeepSeek's tokenizer.json files are 4-8 MB; the largest common ones (256k vocabularies) ~35 MB.
  size_t max_file_bytes = size_t{128} << 20;
  // tokenizer_config.json is a few KB (chat templates included).
  size_t max_config_bytes = size_t{16} << 20;
  // Token ids (vocabulary and added tokens) must be below this: tables are indexed by id, so one id
  // of 2^31 would otherwise allocate a 2^31-entry table. DeepSeek: 102,400 / 129,280.
  int64_t max_vocab_size = int64_t{1} << 21;
};

class Tokenizer {
 public:
  // path: a tokenizer.json file or a model directory containing tokenizer.json. tokenizer_config.json
  // next to it (optional) gives add_bos_token / add_eos_token and the bos/eos/pad token strings.
  // Throws dsvl::Error naming the file and field on bad input.
  static std::unique_ptr<Tokenizer> Load(const std::string& path, const TokenizerLimits& limits = {});
  ~Tokenizer();

  // add_special_tokens: prepend BOS if add_bos_token (append EOS if add_eos_token), like
  // transformers' LlamaTokenizerFast. Throws kInvalidArgument if text is not valid UTF-8.
  // Thread-safe (the word cache is shared under a mutex).
  std::vector<int64_t> Encode(std::string_view text, bool add_special_tokens = false) const;
  // Unknown ids are skipped, as HF does; invalid UTF-8 in the result becomes U+FFFD.
  std::string Decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;

  int64_t TokenToId(std::string_view token) const;  // -1 if absent
  std::string IdToToken(int64_t id) const;          // throws kInvalidArgument on unknown id
  int64_t vocab_size() const;                       // max id + 1
  int64_t bos_id() const { return bos_id_; }        // -1 if none
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  bool add_bos_token() const { return add_bos_; }
  bool IsSpecial(int64_t id) const;

  // Adds a special token if absent (the VL2 processor registers <image>, <|ref|>, ... this way) and
  // returns its id: an existing token keeps its id (and becomes special), a new one gets
  // max(largest added id + 1, model vocabulary size), as HF does. Not thread-safe against Encode.
  int64_t AddSpecialToken(const std::string& token);

  // Appends the bytes token `id` stands for after the decoder (before UTF-8 repair) and returns
  // true; returns false and appends nothing for unknown ids or, with skip_special_tokens, special
  // ones. `first`: no token emitted before (a file without decoder joins tokens with spaces).
  // Used by Decode and StreamDecoder.
  bool AppendTokenBytes(int64_t id, bool skip_special_tokens, bool first, std::string& bytes) const;

 private:
  Tokenizer();
  void LoadConfig(const std::string& config_path, size_t max_bytes);
  void EncodeWord(std::string_view word, std::vector<int64_t>& ids) const;

  std::unique_ptr<text::BpeModel> bpe_;
  std::unique_ptr<text::PreTokenizer> pre_;
  std::unique_ptr<text::AddedVocab> added_;
  bool byte_level_decoder_ = false;  // false: no decoder, tokens joined with spaces (HF default)
  bool add_bos_ = false, add_eos_ = false;
  int64_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;

  struct WordCache;
  std::unique_ptr<WordCache> cache_;
};

// Incremental detokeniser for streaming: Push(id) returns the newly completed UTF-8 text, holding
// back an incomplete multi-byte sequence so a stream never emits half a character. The
// concatenation of all Push results and Flush equals Decode of all ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false)
      : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}
  std::string Push(int64_t id);
  std::string Flush();  // emits what is held back (incomplete bytes become U+FFFD)

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool first_ = true;
  std::string pending_;
};

}  // namespace dsvl
