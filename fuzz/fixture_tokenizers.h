// The small real-format tokenizers of the test fixtures (tests/data/fixtures/*/ckpt: byte-level BPE
// with the DeepSeek pre-tokenizers, BOS/EOS and the family's special tokens), loaded once per
// process, for the harnesses that fuzz what is done with a tokenizer rather than its file.
#pragma once

#include "text/tokenizer.h"

namespace dsvl::fuzz {

// DeepSeek-VL2 (vl2_tiny): <image>, <|ref|>, <|det|>, ..., <|User|>, <|Assistant|>.
const Tokenizer& Vl2Tokenizer();
// DeepSeek-VL (v1_hybrid): <image_placeholder>.
const Tokenizer& Vl1Tokenizer();

}  // namespace dsvl::fuzz
