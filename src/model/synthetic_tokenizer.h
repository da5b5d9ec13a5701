// tokenizer.json files for generated checkpoints (`dsvl make-model`): either a small byte-level BPE
// in the DeepSeek format, trained on an embedded English text, or a real tokenizer.json extended
// with a model family's special tokens at fixed ids.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dsvl {

// Which real DeepSeek tokenizer the pre-tokenizer is copied from.
enum class PreTokenizerStyle {
  kDeepSeekLlm,  // DeepSeek-LLM 100k vocabulary (DeepSeek-VL, DeepSeek-VL2-small)
  kDeepSeekV3,   // DeepSeek-V3 128k vocabulary (DeepSeek-VL2-tiny, DeepSeek-VL2)
};

// The real tokenizer.json "pre_tokenizer" value of that vocabulary.
nlohmann::json RealPreTokenizerJson(PreTokenizerStyle style);

struct SpecialTokenSpec {
  std::string content;
  int64_t id = -1;
  bool special = true;  // false: an added token matched in text but kept by skip_special_tokens
};

struct SyntheticTokenizerSpec {
  PreTokenizerStyle style = PreTokenizerStyle::kDeepSeekV3;
  // Added special tokens at fixed ids (BOS, EOS, pad, the family's tokens).
  std::vector<SpecialTokenSpec> specials;
  // Ids [0, model_vocab_end) form the BPE model vocabulary: the specials that fall in this range
  // (DeepSeek-V3 keeps BOS/EOS/pad at 0/1/2 in its vocabulary), then the 256 byte tokens, then one
  // token per learned merge. Must leave room for the 256 bytes.
  int64_t model_vocab_end = 512;
  // Merges learned at most (the embedded sample supports about two thousand); the remaining
  // vocabulary ids get filler tokens no merge produces.
  int64_t max_merges = 768;
};

// Builds a complete tokenizer.json (HF `tokenizers` format, as the DeepSeek files: no normalizer,
// the real Split sequence + ByteLevel pre-tokenizer, ByteLevel post-processor and decoder, BPE
// model with "a b" merge strings). Ids are contiguous (vocabulary, then added tokens), so Hugging
// Face `tokenizers` and dsvl give every token the same id. Deterministic. Throws kInvalidArgument
// on an impossible spec.
nlohmann::json BuildSyntheticTokenizer(const SyntheticTokenizerSpec& spec);

// Adds `specials` to a parsed real tokenizer.json at their ids: a token already present at its id
// is kept (and marked special); a token present at another id, or an id already used by another
// token, throws kInvalidArgument naming `where`, the token and both ids. (nlohmann::json, not
// ordered_json: a real vocabulary has 100k+ keys and ordered_json inserts in linear time.)
void AddSpecialTokens(nlohmann::json& tokenizer, const std::vector<SpecialTokenSpec>& specials,
                      const std::string& where);

// Largest id in a tokenizer.json (model vocabulary and added tokens), -1 if none.
int64_t MaxTokenId(const nlohmann::json& tokenizer);

}  // namespace dsvl
