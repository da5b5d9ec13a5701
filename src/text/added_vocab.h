// Added tokens (tokenizer.json "added_tokens" plus tokens registered at run time). They are found
// in the raw input before any pre-tokenization, like HF's AddedVocabulary: first the tokens with
// normalized=false, then, in the gaps, those with normalized=true; each pass picks the leftmost
// match and, among matches starting there, the longest.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dsvl::text {

struct AddedToken {
  std::string content;
  int64_t id = -1;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

class AddedVocab {
 public:
  // Adds or replaces the token (same content → same entry).
  void Add(const AddedToken& token);

  const AddedToken* Find(std::string_view content) const;
  const AddedToken* FindId(int64_t id) const;
  int64_t max_id() const { return max_id_; }
  bool empty() const { return tokens_.empty(); }

  // One piece of the input: either an added token (id >= 0) or plain text to pre-tokenize.
  struct Piece {
    std::string_view text;
    int64_t id;
  };
  // Splits text at added tokens. lstrip/rstrip tokens swallow neighbouring whitespace (the
  // whitespace is part of the token's piece and is not encoded), single_word tokens only match
  // between non-word characters.
  void Split(std::string_view text, std::vector<Piece>& out) const;

 private:
  // Byte trie over token contents, one per pass.
  struct Trie {
    std::vector<std::unordered_map<uint8_t, int32_t>> edges{1};
    std::vector<int32_t> token{-1};  // index into tokens_ of the token ending at a node
    bool first_byte[256] = {};
    void Insert(std::string_view s, int32_t index);
    // Longest token starting at text[pos]; returns its index into tokens_ or -1, and its length.
    int32_t LongestAt(std::string_view text, size_t pos, size_t& len) const;
  };
  void Rebuild();
  void SplitPass(const Trie& trie, std::string_view text, std::vector<Piece>& out) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, size_t> by_content_;
  std::unordered_map<int64_t, size_t> by_id_;
  Trie raw_trie_, normalized_trie_;
  int64_t max_id_ = -1;
};

}  // namespace dsvl::text
