// Tokenizer load time and encode throughput on the reference cases text (tests/data/tokenizers).
// Run: build/bin/tokenizer_bench [--benchmark_filter=...]; DSVL_DATA_DIR overrides the data path.
// Single-threaded throughout (one Encode call at a time); results: bench/RESULTS.md, "Tokenizer".
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "text/pre_tokenizer.h"
#include "text/tokenizer.h"

namespace {

std::string TokenizerDir(const std::string& name) {
  const char* env = std::getenv("DSVL_DATA_DIR");
  // Default: the source tree this file was compiled from (bench/../tests/data).
  std::string self = __FILE__;
  std::string data = env ? env : self.substr(0, self.rfind('/')) + "/../tests/data";
  return data + "/tokenizers/" + name;
}

std::vector<std::string> CaseTexts(const std::string& name) {
  std::ifstream in(TokenizerDir(name) + "/cases.jsonl");
  std::vector<std::string> texts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  }
  return texts;
}

std::string Joined(const std::vector<std::string>& texts) {
  std::string all;
  for (const auto& t : texts) all += t + "\n";
  return all;
}

void BM_Load(benchmark::State& state, const char* name) {
  for (auto _ : state) {
    auto tok = dsvl::Tokenizer::Load(TokenizerDir(name));
    benchmark::DoNotOptimize(tok.get());
  }
}

// Steady state: the word cache is warm after the first iteration (long-running server).
void BM_EncodeWarm(benchmark::State& state, const char* name) {
  auto tok = dsvl::Tokenizer::Load(TokenizerDir(name));
  const std::string text = Joined(CaseTexts(name));
  for (auto _ : state) benchmark::DoNotOptimize(tok->Encode(text).size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

// One Encode call per case line, as a chat server would see requests.
void BM_EncodeLines(benchmark::State& state, const char* name) {
  auto tok = dsvl::Tokenizer::Load(TokenizerDir(name));
  const auto texts = CaseTexts(name);
  size_t bytes = 0;
  for (const auto& t : texts) bytes += t.size();
  for (auto _ : state) {
    for (const auto& t : texts) benchmark::DoNotOptimize(tok->Encode(t).size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

// First pass over the text with an empty word cache (every distinct pre-token goes through BPE).
void BM_EncodeCold(benchmark::State& state, const char* name) {
  const std::string text = Joined(CaseTexts(name));
  std::unique_ptr<dsvl::Tokenizer> tok;
  for (auto _ : state) {
    state.PauseTiming();
    tok.reset();  // freeing the previous tokenizer is not part of encoding
    tok = dsvl::Tokenizer::Load(TokenizerDir(name));
    state.ResumeTiming();
    benchmark::DoNotOptimize(tok->Encode(text).size());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

// Pre-tokenization alone (no BPE, no cache) with the fast split matchers or, for comparison, with
// every pattern run through Oniguruma as before.
void BM_PreTokenize(benchmark::State& state, const char* name, bool fast) {
  std::ifstream in(TokenizerDir(name) + "/tokenizer.json");
  const auto json = nlohmann::json::parse(in);
  auto pre = dsvl::text::PreTokenizer::FromJson(json.at("pre_tokenizer"), name, fast);
  const auto texts = CaseTexts(name);
  size_t bytes = 0;
  for (const auto& t : texts) bytes += t.size();
  std::string scratch;
  std::vector<std::string_view> pieces;
  for (auto _ : state) {
    for (const auto& t : texts) {
      pieces.clear();
      pre->Split(t, scratch, pieces);
      benchmark::DoNotOptimize(pieces.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void BM_Decode(benchmark::State& state, const char* name) {
  auto tok = dsvl::Tokenizer::Load(TokenizerDir(name));
  const std::string text = Joined(CaseTexts(name));
  const auto ids = tok->Encode(text);
  for (auto _ : state) benchmark::DoNotOptimize(tok->Decode(ids).size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

BENCHMARK_CAPTURE(BM_Load, deepseek_v3, "deepseek-v3")->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK_CAPTURE(BM_Load, deepseek_llm, "deepseek-llm")->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK_CAPTURE(BM_EncodeWarm, deepseek_v3, "deepseek-v3")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeWarm, deepseek_llm, "deepseek-llm")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeLines, deepseek_v3, "deepseek-v3")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeLines, deepseek_llm, "deepseek-llm")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EncodeCold, deepseek_v3, "deepseek-v3")->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK_CAPTURE(BM_EncodeCold, deepseek_llm, "deepseek-llm")->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK_CAPTURE(BM_PreTokenize, deepseek_v3_fast, "deepseek-v3", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PreTokenize, deepseek_v3_oniguruma, "deepseek-v3", false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PreTokenize, deepseek_llm_fast, "deepseek-llm", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PreTokenize, deepseek_llm_oniguruma, "deepseek-llm", false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, deepseek_v3, "deepseek-v3")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, deepseek_llm, "deepseek-llm")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
