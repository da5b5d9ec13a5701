// `dsvl tokenize`: encode text with a model's tokenizer and print the ids plus the text decoded back
// from them, as JSON lines (the same shape as the tests' cases.jsonl, so outputs can be diffed).
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "dsvl/error.h"
#include "text/tokenizer.h"

namespace dsvl::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string prompt;
  bool jsonl = false;
  bool add_special = false;
};

void PrintResult(const Tokenizer& tok, const std::string& text, bool add_special) {
  std::vector<int64_t> ids = tok.Encode(text, add_special);
  nlohmann::ordered_json out;
  out["ids"] = ids;
  out["decoded"] = tok.Decode(ids);
  std::string line = out.dump();
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);  // one result per input line, promptly, when used through a pipe
}

void RunJsonl(const Tokenizer& tok, bool add_special) {
  std::string line;
  for (size_t line_no = 1; std::getline(std::cin, line); ++line_no) {
    if (line.empty()) continue;
    const std::string where = "stdin line " + std::to_string(line_no);
    nlohmann::json in;
    try {
      in = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      Throw(ErrorCode::kInvalidArgument, ErrorContext{where, "", "", "", std::string("invalid JSON: ") + e.what()});
    }
    if (!in.is_object() || !in.contains("text") || !in["text"].is_string()) {
      Throw(ErrorCode::kInvalidArgument, ErrorContext{where, "text", "an object with a string \"text\"",
                                                      in.dump().substr(0, 80), ""});
    }
    PrintResult(tok, in["text"].get<std::string>(), add_special);
  }
}

}  // namespace

void AddTokenizeCommand(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand("tokenize", "Encode text with a model's tokenizer; print {\"ids\", \"decoded\"} JSON");
  cmd->add_option("-m,--model", opts->model, "model directory or tokenizer.json")->required();
  auto* prompt = cmd->add_option("-p,--prompt", opts->prompt, "text to encode");
  auto* jsonl = cmd->add_flag("--jsonl", opts->jsonl,
                              "read {\"text\": ...} lines from stdin, write one result line each");
  prompt->excludes(jsonl);
  cmd->add_flag("--add-special", opts->add_special,
                "add BOS (and EOS) as tokenizer_config.json says (add_bos_token / add_eos_token)");
  cmd->callback([opts, prompt] {
    if (!opts->jsonl && prompt->count() == 0) {
      Throw(ErrorCode::kInvalidArgument, "dsvl tokenize: give -p TEXT or --jsonl");
    }
    auto tok = Tokenizer::Load(opts->model);
    if (opts->jsonl) {
      RunJsonl(*tok, opts->add_special);
    } else {
      PrintResult(*tok, opts->prompt, opts->add_special);
    }
  });
}

}  // namespace dsvl::cli
