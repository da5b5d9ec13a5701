#include "serve/response_json.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

namespace dsvl::serve {

using json = nlohmann::json;

ReplyMeta NewReplyMeta(const std::string& model, bool chat) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%016llx%08llx", static_cast<unsigned long long>(salt),
                static_cast<unsigned long long>(counter.fetch_add(1)));
  ReplyMeta m;
  m.id = std::string(chat ? "chatcmpl-" : "cmpl-") + buf;
  m.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count();
  m.model = model;
  m.chat = chat;
  return m;
}

const char* FinishReasonText(FinishReason r) {
  // "cancelled" only reaches a client cut off by a server shutdown.
  return FinishReasonName(r);
}

json UsageJson(const std::vector<GenerateResult>& results) {
  int64_t completion = 0;
  for (const GenerateResult& r : results) completion += static_cast<int64_t>(r.ids.size());
  const int64_t prompt = results.empty() ? 0 : results.front().prompt_tokens;
  const int64_t cached = results.empty() ? 0 : results.front().cached_tokens;
  return json{{"prompt_tokens", prompt},
              {"completion_tokens", completion},
              {"total_tokens", prompt + completion},
              {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

json BoxesJson(const GenerateResult& result) {
  json boxes = json::array();
  for (const Box& b : result.boxes) {
    boxes.push_back({{"label", b.label}, {"box", {b.x1, b.y1, b.x2, b.y2}}, {"image", b.image_index}});
  }
  return boxes;
}

json TimingsJson(const std::vector<GenerateResult>& results) {
  double encode = 0, prefill = 0, decode = 0;
  int64_t images = 0;
  for (const GenerateResult& r : results) {
    encode += r.timings.image_encode_ms;
    prefill += r.timings.prefill_ms;
    decode += r.timings.decode_ms;
    images += r.images_encoded;
  }
  return json{{"image_encode_ms", encode}, {"prefill_ms", prefill}, {"decode_ms", decode}, {"images_encoded", images}};
}

namespace {

std::string TokenText(const Model& model, int64_t id) {
  std::string text;
  if (!model.Detokenize({id}, &text).ok()) return "";
  return text;
}

json Bytes(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

json LogprobsJson(const GenerateResult& result, const ParsedRequest& req, const Model& model) {
  if (!req.logprobs) return nullptr;
  if (req.chat) {
    json content = json::array();
    for (const StepLogprobs& step : result.logprobs) {
      const std::string tok = TokenText(model, step.id);
      json top = json::array();
      for (size_t k = 0; k < step.top.size() && static_cast<int64_t>(k) < req.top_logprobs; ++k) {
        const std::string t = TokenText(model, step.top[k].id);
        top.push_back({{"token", t}, {"logprob", step.top[k].logprob}, {"bytes", Bytes(t)}});
      }
      content.push_back({{"token", tok}, {"logprob", step.logprob}, {"bytes", Bytes(tok)}, {"top_logprobs", top}});
    }
    return json{{"content", std::move(content)}, {"refusal", nullptr}};
  }
  json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  int64_t offset = 0;
  for (const StepLogprobs& step : result.logprobs) {
    const std::string tok = TokenText(model, step.id);
    tokens.push_back(tok);
    lps.push_back(step.logprob);
    json top = json::object();
    for (size_t k = 0; k < step.top.size() && static_cast<int64_t>(k) < req.top_logprobs; ++k) {
      top[TokenText(model, step.top[k].id)] = step.top[k].logprob;
    }
    tops.push_back(std::move(top));
    offsets.push_back(offset);
    offset += static_cast<int64_t>(tok.size());
  }
  return json{{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json ReplyJson(const ReplyMeta& meta, const ParsedRequest& req, const std::vector<GenerateResult>& results,
               const Model& model) {
  json choices = json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const GenerateResult& r = results[i];
    json c{{"index", i}};
    if (meta.chat) {
      c["message"] = {{"role", "assistant"}, {"content", r.text}, {"refusal", nullptr}};
    } else {
      c["text"] = r.text;
    }
    c["logprobs"] = LogprobsJson(r, req, model);
    c["finish_reason"] = FinishReasonText(r.finish_reason);
    c["boxes"] = BoxesJson(r);
    choices.push_back(std::move(c));
  }
  return json{{"id", meta.id},
              {"object", meta.chat ? "chat.completion" : "text_completion"},
              {"created", meta.created},
              {"model", meta.model},
              {"system_fingerprint", "dsvl"},
              {"choices", std::move(choices)},
              {"usage", UsageJson(results)},
              {"timings", TimingsJson(results)}};
}

json ChunkJson(const ReplyMeta& meta, const ParsedRequest& req, int64_t index, const std::string& text, bool first,
               const GenerateResult* final, const Model& model) {
  json c{{"index", index}};
  if (meta.chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (first || !text.empty()) delta["content"] = text;
    c["delta"] = std::move(delta);
  } else {
    c["text"] = text;
  }
  c["logprobs"] = final ? LogprobsJson(*final, req, model) : json(nullptr);
  c["finish_reason"] = final ? json(FinishReasonText(final->finish_reason)) : json(nullptr);
  if (final) c["boxes"] = BoxesJson(*final);
  json chunk{{"id", meta.id},
             {"object", meta.chat ? "chat.completion.chunk" : "text_completion"},
             {"created", meta.created},
             {"model", meta.model},
             {"system_fingerprint", "dsvl"},
             {"choices", json::array({std::move(c)})}};
  if (req.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

json UsageChunkJson(const ReplyMeta& meta, const std::vector<GenerateResult>& results) {
  return json{{"id", meta.id},
              {"object", meta.chat ? "chat.completion.chunk" : "text_completion"},
              {"created", meta.created},
              {"model", meta.model},
              {"system_fingerprint", "dsvl"},
              {"choices", json::array()},
              {"usage", UsageJson(results)},
              {"timings", TimingsJson(results)}};
}

}  // namespace dsvl::serve
