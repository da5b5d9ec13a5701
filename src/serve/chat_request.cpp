#include "serve/chat_request.h"

#include <atomic>
#include <limits>
#include <random>

#include "serve/api_error.h"
#include "serve/image_url.h"

namespace dsvl::serve {
namespace {

const char* ImageTagFor(ModelFamilyId family) {
  return family == ModelFamilyId::kDeepSeekVL ? "<image_placeholder>" : "<image>";
}

std::vector<std::string> ParseStop(const json& body) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return {};
  std::vector<std::string> stops;
  if (it->is_string()) {
    stops.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    if (it->size() > 16) BadRequest("stop", "at most 16 stop strings");
    for (const json& s : *it) {
      if (!s.is_string()) BadRequest("stop", "'stop' must be a string or an array of strings", "invalid_type");
      stops.push_back(s.get<std::string>());
    }
  } else {
    BadRequest("stop", "'stop' must be a string or an array of strings", "invalid_type");
  }
  for (const std::string& s : stops) {
    if (s.empty()) BadRequest("stop", "stop strings must not be empty");
    if (s.size() > 256) BadRequest("stop", "stop strings are limited to 256 bytes");
  }
  return stops;
}

// Fields both endpoints share: budget, sampling, stops, n, stream.
void ParseCommon(const json& body, const RequestContext& ctx, ParsedRequest& out) {
  if (auto model = body.find("model"); model != body.end() && !model->is_null() && !model->is_string()) {
    BadRequest("model", "'model' must be a string", "invalid_type");
  }
  GenerateRequest& r = out.request;
  std::optional<int64_t> max_tokens = OptInt(body, "max_completion_tokens", 1, ctx.context);
  if (!max_tokens) max_tokens = OptInt(body, "max_tokens", 1, ctx.context);
  // With an explicit budget, prompt + budget must fit (400 otherwise); without one, answer up to
  // the end of the context.
  r.max_new_tokens = max_tokens.value_or(ctx.context);
  r.strict_context = max_tokens.has_value();
  SamplingParams& s = r.sampling;
  s.temperature = static_cast<float>(OptNumber(body, "temperature", 0.0, 2.0).value_or(1.0));
  s.top_p = static_cast<float>(OptNumber(body, "top_p", 0.0, 1.0).value_or(1.0));
  if (s.top_p <= 0.0f) BadRequest("top_p", "'top_p' must be greater than 0");
  s.top_k = OptInt(body, "top_k", 0, ctx.vocab_size > 0 ? ctx.vocab_size : INT32_MAX).value_or(0);
  s.min_p = static_cast<float>(OptNumber(body, "min_p", 0.0, 1.0).value_or(0.0));
  s.repetition_penalty = static_cast<float>(OptNumber(body, "repetition_penalty", 0.01, 10.0).value_or(1.0));
  if (auto seed = OptInt(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*seed);
  } else {
    // Without a seed every request samples differently (as OpenAI's API does).
    static std::atomic<uint64_t> counter{std::random_device{}()};
    s.seed = counter.fetch_add(0x9e3779b97f4a7c15ULL);
  }
  // OpenAI's additive penalties have no exact counterpart in the engine: refuse rather than
  // silently ignore or approximate them.
  for (const char* key : {"frequency_penalty", "presence_penalty"}) {
    if (auto v = OptNumber(body, key, -2.0, 2.0); v && *v != 0.0) {
      BadRequest(key, std::string("'") + key + "' is not supported; use 'repetition_penalty' (multiplicative, 1 = off)",
                 "unsupported_parameter");
    }
  }
  r.stop = ParseStop(body);
  // Extension (as llama.cpp's server): generate exactly max_tokens; benchmarks and tests use it.
  r.ignore_eos = OptBool(body, "ignore_eos").value_or(false);
  out.n = OptInt(body, "n", 1, ctx.max_n).value_or(1);
  out.stream = OptBool(body, "stream").value_or(false);
  if (auto so = body.find("stream_options"); so != body.end() && !so->is_null()) {
    if (!so->is_object()) BadRequest("stream_options", "'stream_options' must be an object", "invalid_type");
    if (!out.stream) BadRequest("stream_options", "'stream_options' needs \"stream\": true");
    out.include_usage = OptBool(*so, "include_usage").value_or(false);
  }
  for (const char* key : {"tools", "functions", "tool_choice", "function_call"}) {
    if (auto v = body.find(key); v != body.end() && !v->is_null() && !(v->is_array() && v->empty())) {
      BadRequest(key, std::string("'") + key + "' (tool calling) is not supported", "unsupported_parameter");
    }
  }
  if (auto rf = body.find("response_format"); rf != body.end() && !rf->is_null()) {
    if (!rf->is_object() || OptString(*rf, "type").value_or("text") != "text") {
      BadRequest("response_format", "only response_format {\"type\": \"text\"} is supported", "unsupported_parameter");
    }
  }
}

// One message's content: a string, or parts of text and images in order. Image parts become the
// family's image tag at their place in the text.
void ParseContent(const json& content, const std::string& param, const RequestContext& ctx, Message& msg,
                  uint64_t& hash) {
  const std::string tag = ImageTagFor(ctx.family);
  auto add_text = [&](const std::string& text, const std::string& where) {
    if (text.find(tag) != std::string::npos) {
      BadRequest(where, "text must not contain the image tag " + tag + "; send images as image_url parts");
    }
    if (!msg.text.empty() && msg.text.back() != '\n') msg.text += '\n';
    msg.text += text;
    hash = HashBytes(text.data(), text.size(), hash);
  };
  if (content.is_null()) return;
  if (content.is_string()) {
    add_text(content.get<std::string>(), param);
    return;
  }
  if (!content.is_array()) BadRequest(param, "'content' must be a string or an array of parts", "invalid_type");
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string where = param + "[" + std::to_string(i) + "]";
    if (!part.is_object()) BadRequest(where, "content parts must be objects", "invalid_type");
    const std::string type = OptString(part, "type").value_or("");
    if (type == "text") {
      auto text = OptString(part, "text");
      if (!text) BadRequest(where + ".text", "text part without 'text'");
      add_text(*text, where + ".text");
    } else if (type == "image_url") {
      auto iu = part.find("image_url");
      std::string url;
      if (iu != part.end() && iu->is_string()) {
        url = iu->get<std::string>();
      } else if (iu != part.end() && iu->is_object()) {
        url = OptString(*iu, "url").value_or("");
      } else {
        BadRequest(where + ".image_url", "image_url part needs {\"url\": ...}", "invalid_type");
      }
      msg.images.push_back(ImageFromUrl(url, ctx, where + ".image_url.url"));
      const auto& img = msg.images.back();
      hash = img.bytes.empty() ? HashBytes(img.path.data(), img.path.size(), hash)
                               : HashBytes(img.bytes.data(), img.bytes.size(), hash);
      if (!msg.text.empty() && msg.text.back() != '\n') msg.text += '\n';
      msg.text += tag + "\n";
    } else {
      BadRequest(where + ".type", "unsupported content part type '" + type.substr(0, 64) +
                                      "' (text and image_url are)", "invalid_type");
    }
  }
}

}  // namespace

uint64_t HashBytes(const void* data, size_t n, uint64_t seed) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = seed;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

ParsedRequest ParseChatRequest(const json& body, const RequestContext& ctx) {
  ParsedRequest out;
  ParseCommon(body, ctx, out);
  GenerateRequest& r = out.request;
  r.replace_history = true;  // the client sends the whole conversation each time
  out.logprobs = OptBool(body, "logprobs").value_or(false);
  out.top_logprobs = OptInt(body, "top_logprobs", 0, 20).value_or(0);
  if (out.top_logprobs > 0 && !out.logprobs) BadRequest("top_logprobs", "'top_logprobs' needs \"logprobs\": true");
  if (out.logprobs) r.logprobs = std::max<int64_t>(out.top_logprobs, 1);

  auto msgs = body.find("messages");
  if (msgs == body.end() || !msgs->is_array()) BadRequest("messages", "'messages' must be an array", "invalid_type");
  if (msgs->empty()) BadRequest("messages", "'messages' must not be empty");
  if (msgs->size() > 1024) BadRequest("messages", "at most 1024 messages");
  int64_t images = 0;
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) BadRequest(param, "messages must be objects", "invalid_type");
    auto role = OptString(m, "role");
    if (!role) BadRequest(param + ".role", "message without 'role'");
    auto content = m.find("content");
    const json& c = content == m.end() ? json() : *content;
    // Count images before decoding any, so a request with thousands is refused cheaply.
    if (c.is_array()) {
      for (const json& part : c) images += part.is_object() && part.value("type", json()) == "image_url";
      if (images > ctx.max_images) {
        throw ApiError(400, "too many images: at most " + std::to_string(ctx.max_images) + " per request", "messages",
                       "too_many_images");
      }
    }
    Message msg;
    uint64_t hash = HashBytes(role->data(), role->size());
    if (*role == "system" || *role == "developer") {
      if (!r.messages.empty()) BadRequest(param + ".role", "system messages must come before the others");
      ParseContent(c, param + ".content", ctx, msg, hash);
      if (!msg.images.empty()) BadRequest(param + ".content", "system messages cannot hold images");
      if (!r.system.empty()) r.system += "\n";
      r.system += msg.text;
    } else if (*role == "user" || *role == "assistant") {
      if (*role == "user" && c.is_null()) BadRequest(param + ".content", "user message without 'content'");
      msg.role = *role;
      ParseContent(c, param + ".content", ctx, msg, hash);
      if (*role == "assistant" && !msg.images.empty()) {
        BadRequest(param + ".content", "assistant messages cannot hold images");
      }
      r.messages.push_back(std::move(msg));
    } else {
      BadRequest(param + ".role", "unknown role '" + role->substr(0, 64) + "' (system, developer, user, assistant)",
                 "invalid_role");
    }
    out.signature.push_back(hash);
  }
  if (r.messages.empty()) BadRequest("messages", "no user message");
  return out;
}

ParsedRequest ParseCompletionRequest(const json& body, const RequestContext& ctx, std::string* prompt_text) {
  ParsedRequest out;
  out.chat = false;
  ParseCommon(body, ctx, out);
  if (auto lp = OptInt(body, "logprobs", 0, 20)) {
    out.logprobs = *lp > 0;
    out.top_logprobs = *lp;
    out.request.logprobs = *lp;
  }
  if (OptBool(body, "echo").value_or(false)) BadRequest("echo", "'echo' is not supported", "unsupported_parameter");
  if (OptString(body, "suffix")) BadRequest("suffix", "'suffix' is not supported", "unsupported_parameter");
  auto prompt = body.find("prompt");
  if (prompt == body.end() || prompt->is_null()) BadRequest("prompt", "'prompt' is required");
  const json* p = &*prompt;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) {
    *prompt_text = p->get<std::string>();
    if (prompt_text->empty()) BadRequest("prompt", "'prompt' must not be empty");
    out.signature.push_back(HashBytes(prompt_text->data(), prompt_text->size()));
  } else if (p->is_array() && !p->empty()) {
    for (const json& id : *p) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= ctx.vocab_size) {
        BadRequest("prompt", "token ids must be integers in [0, " + std::to_string(ctx.vocab_size) + ")");
      }
      out.request.prompt_ids.push_back(id.get<int64_t>());
    }
    out.signature.push_back(HashBytes(out.request.prompt_ids.data(), out.request.prompt_ids.size() * 8));
  } else {
    BadRequest("prompt", "'prompt' must be a string or an array of token ids (one prompt per request)",
               "invalid_type");
  }
  return out;
}

}  // namespace dsvl::serve
