#include "fixture_tokenizers.h"

#include <memory>

namespace dsvl::fuzz {

const Tokenizer& Vl2Tokenizer() {
  static const std::unique_ptr<Tokenizer> tok = Tokenizer::Load(DSVL_FUZZ_DATA_DIR "/fixtures/vl2_tiny/ckpt");
  return *tok;
}

const Tokenizer& Vl1Tokenizer() {
  static const std::unique_ptr<Tokenizer> tok =
      Tokenizer::Load(DSVL_FUZZ_DATA_DIR "/fixtures/v1_hybrid/ckpt");
  return *tok;
}

}  // namespace dsvl::fuzz
