// The C API (include/dsvl/dsvl_c.h) as a thin layer over the C++ one (include/dsvl/dsvl.h): every
// entry point converts its arguments, calls the C++ API, and turns a Status into a dsvl_status plus
// the thread's last-error message. No C++ exception crosses into C.
#include "dsvl/dsvl_c.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "dsvl/dsvl.h"

struct dsvl_model {
  std::shared_ptr<dsvl::Model> model;
};
struct dsvl_session {
  std::unique_ptr<dsvl::Session> session;
};
struct dsvl_result {
  dsvl::GenerateResult result;
};

namespace {

thread_local std::string last_error;

dsvl_status ToC(dsvl::ErrorCode code) {
  switch (code) {
    case dsvl::ErrorCode::kOk:
      return DSVL_OK;
    case dsvl::ErrorCode::kInvalidArgument:
      return DSVL_ERR_INVALID_ARGUMENT;
    case dsvl::ErrorCode::kNotFound:
      return DSVL_ERR_NOT_FOUND;
    case dsvl::ErrorCode::kCorruptData:
      return DSVL_ERR_CORRUPT_DATA;
    case dsvl::ErrorCode::kUnsupported:
      return DSVL_ERR_UNSUPPORTED;
    case dsvl::ErrorCode::kLimitExceeded:
      return DSVL_ERR_LIMIT_EXCEEDED;
    case dsvl::ErrorCode::kIo:
      return DSVL_ERR_IO;
    case dsvl::ErrorCode::kOutOfMemory:
      return DSVL_ERR_OUT_OF_MEMORY;
    case dsvl::ErrorCode::kInternal:
      return DSVL_ERR_INTERNAL;
  }
  return DSVL_ERR_INTERNAL;
}

dsvl_status Fail(dsvl_status status, std::string message) {
  last_error = std::move(message);
  return status;
}

dsvl_status Report(const dsvl::Status& s) {
  if (s.ok()) return DSVL_OK;
  return Fail(ToC(s.code()), s.message());
}

// Runs fn (which returns a dsvl::Status) and keeps any C++ exception on this side of the boundary.
template <typename Fn>
dsvl_status Guard(Fn&& fn) {
  try {
    return Report(fn());
  } catch (const std::bad_alloc&) {
    return Fail(DSVL_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return Fail(DSVL_ERR_INTERNAL, e.what());
  }
}

dsvl::Status Invalid(const std::string& what) { return dsvl::Status(dsvl::ErrorCode::kInvalidArgument, what); }

bool ParseKvType(const char* s, dsvl::KvCacheType* out) {
  const std::string v = s ? s : "";
  if (v.empty() || v == "auto") *out = dsvl::KvCacheType::kAuto;
  else if (v == "f32") *out = dsvl::KvCacheType::kF32;
  else if (v == "bf16") *out = dsvl::KvCacheType::kBF16;
  else if (v == "f16") *out = dsvl::KvCacheType::kF16;
  else return false;
  return true;
}

bool ParsePrecision(const char* s, dsvl::Precision* out) {
  const std::string v = s ? s : "";
  if (v.empty() || v == "auto") *out = dsvl::Precision::kAuto;
  else if (v == "f32") *out = dsvl::Precision::kF32;
  else if (v == "bf16") *out = dsvl::Precision::kBf16;
  else return false;
  return true;
}

// A struct from a caller built against an older header is shorter: fields it does not know keep
// their defaults. struct_size 0 means the caller never ran *_init: refused, since its other fields
// would be garbage or zeros that are not the defaults.
template <typename T>
dsvl::Status CopyParams(const T* given, void (*init)(T*), const char* name, T* out) {
  init(out);
  if (!given) return dsvl::Status();
  if (given->struct_size < sizeof(size_t)) {
    return Invalid(std::string(name) + ".struct_size: expected the value set by " + name + "_init, got " +
                   std::to_string(given->struct_size));
  }
  std::memcpy(out, given, std::min(given->struct_size, sizeof(T)));
  out->struct_size = sizeof(T);
  return dsvl::Status();
}

dsvl::Status ConvertMessages(const dsvl_message* messages, size_t n, std::vector<dsvl::Message>* out) {
  if (n > 0 && !messages) return Invalid("dsvl_session_generate: messages is NULL with n_messages > 0");
  for (size_t i = 0; i < n; ++i) {
    const dsvl_message& m = messages[i];
    const std::string where = "dsvl_session_generate: messages[" + std::to_string(i) + "]";
    if (!m.role) return Invalid(where + ".role is NULL");
    dsvl::Message msg;
    msg.role = m.role;
    msg.text = m.text ? m.text : "";
    if (m.n_images > 0 && !m.images) return Invalid(where + ".images is NULL with n_images > 0");
    for (size_t k = 0; k < m.n_images; ++k) {
      const dsvl_image& img = m.images[k];
      dsvl::ImageInput in;
      if (img.bytes) {
        in.bytes.assign(img.bytes, img.bytes + img.n_bytes);
        in.path = img.path ? img.path : "image " + std::to_string(k);
      } else if (img.path) {
        in.path = img.path;
      } else {
        return Invalid(where + ".images[" + std::to_string(k) + "] has neither path nor bytes");
      }
      msg.images.push_back(std::move(in));
    }
    out->push_back(std::move(msg));
  }
  return dsvl::Status();
}

char* CopyString(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

}  // namespace

extern "C" {

const char* dsvl_version(void) { return "0.1.0"; }

const char* dsvl_last_error(void) { return last_error.c_str(); }

const char* dsvl_status_name(dsvl_status status) {
  switch (status) {
    case DSVL_OK:
      return "ok";
    case DSVL_ERR_INVALID_ARGUMENT:
      return "invalid_argument";
    case DSVL_ERR_NOT_FOUND:
      return "not_found";
    case DSVL_ERR_CORRUPT_DATA:
      return "corrupt_data";
    case DSVL_ERR_UNSUPPORTED:
      return "unsupported";
    case DSVL_ERR_LIMIT_EXCEEDED:
      return "limit_exceeded";
    case DSVL_ERR_IO:
      return "io";
    case DSVL_ERR_OUT_OF_MEMORY:
      return "out_of_memory";
    case DSVL_ERR_INTERNAL:
      return "internal";
  }
  return "unknown";
}

void dsvl_string_free(char* s) { std::free(s); }

void dsvl_model_params_init(dsvl_model_params* p) {
  if (!p) return;
  *p = dsvl_model_params{};
  p->struct_size = sizeof(dsvl_model_params);
}

dsvl_status dsvl_model_load(const dsvl_model_params* params, dsvl_model** out) {
  return Guard([&]() -> dsvl::Status {
    if (!out) return Invalid("dsvl_model_load: out is NULL");
    *out = nullptr;
    if (!params) return Invalid("dsvl_model_load: params (with params.dir) is required");
    dsvl_model_params p;
    dsvl::Status st = CopyParams(params, dsvl_model_params_init, "dsvl_model_params", &p);
    if (!st.ok()) return st;
    if (!p.dir) return Invalid("dsvl_model_load: params.dir is required");
    dsvl::ModelOptions o;
    o.dir = p.dir;
    o.threads = p.threads;
    o.max_context = p.max_context;
    o.quant = p.quant ? p.quant : "";
    if (!ParseKvType(p.kv_type, &o.kv_type))
      return Invalid(std::string("dsvl_model_load: kv_type: expected auto, f32, bf16 or f16, got ") + p.kv_type);
    if (!ParsePrecision(p.precision, &o.precision))
      return Invalid(std::string("dsvl_model_load: precision: expected auto, f32 or bf16, got ") + p.precision);
    std::shared_ptr<dsvl::Model> model;
    dsvl::Status s = dsvl::Model::Load(o, &model);
    if (!s.ok()) return s;
    *out = new dsvl_model{std::move(model)};
    return s;
  });
}

void dsvl_model_free(dsvl_model* model) { delete model; }

dsvl_status dsvl_model_get_info(const dsvl_model* model, dsvl_model_info* out) {
  return Guard([&]() -> dsvl::Status {
    if (!model || !out) return Invalid("dsvl_model_get_info: model and out are required");
    const dsvl::ModelInfo& i = model->model->info();
    *out = dsvl_model_info{};
    out->family = i.family == dsvl::ModelFamilyId::kDeepSeekVL ? 1 : 2;
    out->vocab_size = i.vocab_size;
    out->hidden_size = i.hidden_size;
    out->num_layers = i.num_layers;
    out->max_context = i.max_context;
    out->bos_id = i.bos_id;
    out->eos_id = i.eos_id;
    out->threads = i.threads;
    return dsvl::Status();
  });
}

dsvl_status dsvl_tokenize(const dsvl_model* model, const char* text, int add_special, int64_t* ids, size_t capacity,
                          size_t* n_ids) {
  return Guard([&]() -> dsvl::Status {
    if (!model || !text || !n_ids) return Invalid("dsvl_tokenize: model, text and n_ids are required");
    if (capacity > 0 && !ids) return Invalid("dsvl_tokenize: ids is NULL with capacity > 0");
    std::vector<int64_t> v;
    dsvl::Status s = model->model->Tokenize(text, add_special != 0, &v);
    if (!s.ok()) return s;
    *n_ids = v.size();
    if (v.size() > capacity) {
      return dsvl::Status(dsvl::ErrorCode::kLimitExceeded,
                          "dsvl_tokenize: capacity: expected >= " + std::to_string(v.size()) + ", got " +
                              std::to_string(capacity));
    }
    std::copy(v.begin(), v.end(), ids);
    return s;
  });
}

dsvl_status dsvl_detokenize(const dsvl_model* model, const int64_t* ids, size_t n_ids, char** text) {
  return Guard([&]() -> dsvl::Status {
    if (!model || !text || (n_ids > 0 && !ids)) return Invalid("dsvl_detokenize: model, ids and text are required");
    *text = nullptr;
    std::string s;
    dsvl::Status st = model->model->Detokenize(std::vector<int64_t>(ids, ids + n_ids), &s);
    if (st.ok()) *text = CopyString(s);
    return st;
  });
}

dsvl_status dsvl_session_create(dsvl_model* model, dsvl_session** out) {
  return Guard([&]() -> dsvl::Status {
    if (!model || !out) return Invalid("dsvl_session_create: model and out are required");
    *out = nullptr;
    std::unique_ptr<dsvl::Session> s;
    dsvl::Status st = dsvl::Session::Create(model->model, &s);
    if (st.ok()) *out = new dsvl_session{std::move(s)};
    return st;
  });
}

void dsvl_session_free(dsvl_session* session) { delete session; }

void dsvl_session_reset(dsvl_session* session) {
  if (session) session->session->Reset();
}

void dsvl_generate_params_init(dsvl_generate_params* p) {
  if (!p) return;
  *p = dsvl_generate_params{};
  p->struct_size = sizeof(dsvl_generate_params);
  const dsvl::SamplingParams d;
  p->temperature = d.temperature;
  p->top_p = d.top_p;
  p->top_k = d.top_k;
  p->min_p = d.min_p;
  p->repetition_penalty = d.repetition_penalty;
  p->seed = d.seed;
  p->max_new_tokens = dsvl::GenerateRequest{}.max_new_tokens;
}

dsvl_status dsvl_session_generate(dsvl_session* session, const dsvl_message* messages, size_t n_messages,
                                  const dsvl_generate_params* params, dsvl_token_callback callback, void* user_data,
                                  dsvl_result** out) {
  return Guard([&]() -> dsvl::Status {
    if (!session || !out) return Invalid("dsvl_session_generate: session and out are required");
    *out = nullptr;
    dsvl_generate_params p;
    dsvl::Status st = CopyParams(params, dsvl_generate_params_init, "dsvl_generate_params", &p);
    if (!st.ok()) return st;
    if (p.n_stop > 0 && !p.stop) return Invalid("dsvl_session_generate: params.stop is NULL with n_stop > 0");
    dsvl::GenerateRequest req;
    st = ConvertMessages(messages, n_messages, &req.messages);
    if (!st.ok()) return st;
    req.sampling.temperature = p.temperature;
    req.sampling.top_p = p.top_p;
    req.sampling.top_k = p.top_k;
    req.sampling.min_p = p.min_p;
    req.sampling.repetition_penalty = p.repetition_penalty;
    req.sampling.seed = p.seed;
    req.max_new_tokens = p.max_new_tokens;
    req.ignore_eos = p.ignore_eos != 0;
    for (size_t i = 0; i < p.n_stop; ++i) {
      if (!p.stop[i]) return Invalid("dsvl_session_generate: params.stop[" + std::to_string(i) + "] is NULL");
      req.stop.emplace_back(p.stop[i]);
    }
    if (p.system) req.system = p.system;
    dsvl::TokenCallback on_token;
    if (callback) {
      on_token = [callback, user_data](int64_t id, std::string_view piece) {
        return callback(id, piece.data(), piece.size(), user_data) != 0;
      };
    }
    auto result = std::make_unique<dsvl_result>();
    st = session->session->Generate(req, &result->result, on_token);
    if (st.ok()) *out = result.release();
    return st;
  });
}

const char* dsvl_result_text(const dsvl_result* r) { return r ? r->result.text.c_str() : ""; }
size_t dsvl_result_n_tokens(const dsvl_result* r) { return r ? r->result.ids.size() : 0; }
const int64_t* dsvl_result_tokens(const dsvl_result* r) { return r ? r->result.ids.data() : nullptr; }
int64_t dsvl_result_prompt_tokens(const dsvl_result* r) { return r ? r->result.prompt_tokens : 0; }
int64_t dsvl_result_cached_tokens(const dsvl_result* r) { return r ? r->result.cached_tokens : 0; }
dsvl_finish_reason dsvl_result_finish_reason(const dsvl_result* r) {
  if (!r) return DSVL_FINISH_STOP;
  switch (r->result.finish_reason) {
    case dsvl::FinishReason::kStop:
      return DSVL_FINISH_STOP;
    case dsvl::FinishReason::kLength:
      return DSVL_FINISH_LENGTH;
    case dsvl::FinishReason::kCancelled:
      return DSVL_FINISH_CANCELLED;
  }
  return DSVL_FINISH_STOP;
}
double dsvl_result_decode_tok_s(const dsvl_result* r) { return r ? r->result.timings.decode_tok_s : 0.0; }
void dsvl_result_free(dsvl_result* r) { delete r; }

}  // extern "C"
