// Embedded text data for model/synthetic_tokenizer.cpp (see the .cpp for where it comes from).
#pragma once

namespace dsvl::synthetic_tokenizer_data {

extern const char* const kDeepSeekLlmPreTokenizer;  // JSON: tokenizer.json "pre_tokenizer"
extern const char* const kDeepSeekV3PreTokenizer;   // JSON: tokenizer.json "pre_tokenizer"
extern const char* const kEnglishSample;

}  // namespace dsvl::synthetic_tokenizer_data
