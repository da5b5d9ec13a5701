#include "serve/server.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "model/engine.h"
#include "serve/auth.h"
#include "serve/json_fields.h"
#include "serve/server_impl.h"
#include "serve/sse.h"

namespace dsvl::serve {

void SendJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

void SendError(httplib::Response& res, const ApiError& e) {
  if (e.status == 429) res.set_header("Retry-After", "1");
  SendJson(res, e.status, e.ToJson());
}

void Server::Impl::RequireReady() const {
  if (stopping) throw ApiError(503, "the server is shutting down", "", "shutting_down");
  if (ready) return;
  std::lock_guard<std::mutex> lock(state_mu);
  if (load_done) throw ApiError(503, "the model failed to load: " + load_status.message(), "", "load_failed");
  throw ApiError(503, "the model is still loading", "", "loading");
}

void Server::Impl::Load() {
  Status s = Model::Load(options.model, &model);
  if (s.ok()) {
    s = Capture([&] { pool = std::make_unique<SlotPool>(model, options.parallel, options.queue); });
  }
  if (s.ok()) {
    const ModelInfo& info = model->info();
    request_ctx.family = info.family;
    request_ctx.context = info.max_context;
    request_ctx.vocab_size = info.vocab_size;
    request_ctx.max_images = options.model.limits.max_images;
    request_ctx.max_image_bytes = options.model.limits.max_image_file_bytes;
    request_ctx.max_n = options.max_n;
    ready = true;
  }
  std::lock_guard<std::mutex> lock(state_mu);
  load_status = s;
  load_done = true;
  state_cv.notify_all();
}

namespace {

// Counts every reply by endpoint and status; unknown paths are one label.
std::string EndpointLabel(const std::string& path) {
  for (const char* known : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics",
                            "/tokenize", "/detokenize"}) {
    if (path == known) return known;
  }
  return "other";
}

// Runs a handler body, turning ApiError (and anything unexpected) into an OpenAI-style reply.
template <typename Fn>
void Guarded(httplib::Response& res, Fn&& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    SendError(res, e);
  } catch (const std::bad_alloc&) {
    SendError(res, ApiError(503, "out of memory", "", "out_of_memory"));
  } catch (const std::exception& e) {
    SendError(res, ApiError(500, std::string("internal error: ") + e.what(), "", "internal_error"));
  }
}

}  // namespace

void Server::Impl::Route() {
  http.set_payload_max_length(options.max_body_bytes);
  // An idle keep-alive connection holds its thread until this timeout, and Stop() waits for every
  // thread: a short one keeps shutdown prompt (clients reconnect transparently).
  http.set_keep_alive_timeout(2);
  // Each connection holds a thread while its request runs: room for every slot, a full queue and
  // a few more for health checks, metrics and refusals.
  const size_t threads = static_cast<size_t>(options.parallel + options.queue + 8);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (BearerTokenMatches(req.get_header_value("Authorization"), options.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    SendError(res, ApiError(401, "invalid or missing API key (Authorization: Bearer KEY)", "", "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Replies httplib makes itself (unknown path, body too large, malformed HTTP) in the same shape.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                                 httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = "HTTP " + std::to_string(res.status);
    std::string code;
    if (res.status == 404) message = "unknown endpoint " + req.method + " " + req.path, code = "not_found";
    if (res.status == 413) message = "request body too large", code = "body_too_large";
    SendError(res, ApiError(res.status, message, "", code));
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    SendError(res, ApiError(500, "internal error", "", "internal_error"));
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.CountRequest(EndpointLabel(req.path), res.status);
    if (options.log_requests) {
      std::fprintf(stderr, "dsvl serve: %s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
    }
  });

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (stopping) return SendJson(res, 503, {{"status", "shutting_down"}});
    if (ready) return SendJson(res, 200, {{"status", "ok"}});
    std::lock_guard<std::mutex> lock(state_mu);
    if (load_done) return SendJson(res, 500, {{"status", "error"}, {"message", load_status.message()}});
    SendJson(res, 503, {{"status", "loading"}});
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const bool up = ready;
    Metrics::Steps steps;
    if (up) {
      const StepScheduler::Stats s = model->impl().scheduler().stats();
      steps = Metrics::Steps{s.steps, s.rows, s.max_items};
    }
    res.set_content(metrics.Render(up ? pool->queued() : 0, up ? pool->active() : 0, options.parallel, up, steps),
                    "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    Guarded(res, [&] {
      RequireReady();
      nlohmann::json m{{"id", model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "dsvl"},
                       {"meta", {{"context", model->info().max_context}, {"vocab_size", model->info().vocab_size}}}};
      SendJson(res, 200, {{"object", "list"}, {"data", nlohmann::json::array({m})}});
    });
  });
  http.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    Guarded(res, [&] {
      RequireReady();
      const json body = ParseBody(req.body);
      auto content = OptString(body, "content");
      if (!content) BadRequest("content", "'content' (a string) is required");
      std::vector<int64_t> ids;
      const Status s = model->Tokenize(*content, OptBool(body, "add_special").value_or(false), &ids);
      if (!s.ok()) throw FromStatus(s);
      SendJson(res, 200, {{"tokens", ids}});
    });
  });
  http.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    Guarded(res, [&] {
      RequireReady();
      const json body = ParseBody(req.body);
      auto tokens = body.find("tokens");
      if (tokens == body.end() || !tokens->is_array()) BadRequest("tokens", "'tokens' must be an array", "invalid_type");
      std::vector<int64_t> ids;
      for (const json& t : *tokens) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= model->info().vocab_size) {
          BadRequest("tokens", "token ids must be integers in [0, " + std::to_string(model->info().vocab_size) + ")");
        }
        ids.push_back(t.get<int64_t>());
      }
      std::string text;
      const Status s = model->Detokenize(ids, &text);
      if (!s.ok()) throw FromStatus(s);
      SendJson(res, 200, {{"content", text}});
    });
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Guarded(res, [&] { HandleCompletion(req, res, /*chat=*/true); });
  });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Guarded(res, [&] { HandleCompletion(req, res, /*chat=*/false); });
  });
}

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  return Capture([&] {
    Impl& s = *impl_;
    ServerOptions& o = s.options;
    if (o.parallel < 1 || o.queue < 0 || o.max_n < 1) {
      Throw(ErrorCode::kInvalidArgument, "serve: --parallel must be >= 1 and --queue >= 0");
    }
    if (!o.allow_local_files.empty()) {
      char* real = realpath(o.allow_local_files.c_str(), nullptr);
      if (!real || !std::filesystem::is_directory(real)) {
        std::free(real);
        Throw(ErrorCode::kNotFound, ErrorContext{o.allow_local_files, "--allow-local-files", "a directory",
                                                 "not found", ""});
      }
      s.request_ctx.local_files_root = real;
      std::free(real);
    }
    s.model_name = o.model_name;
    if (s.model_name.empty()) s.model_name = std::filesystem::path(o.model.dir).lexically_normal().filename().string();
    if (s.model_name.empty()) s.model_name = std::filesystem::path(o.model.dir).parent_path().filename().string();
    if (s.model_name.empty()) s.model_name = "dsvl";
    s.Route();
    if (o.port == 0) {
      s.bound_port = s.http.bind_to_any_port(o.host);
    } else {
      s.bound_port = s.http.bind_to_port(o.host, o.port) ? o.port : -1;
    }
    if (s.bound_port <= 0) {
      Throw(ErrorCode::kIo, ErrorContext{o.host + ":" + std::to_string(o.port), "listen", "a free port",
                                         "cannot bind", ""});
    }
    s.listener = std::thread([&s] { s.http.listen_after_bind(); });
    s.loader = std::thread([&s] { s.Load(); });
  });
}

int Server::port() const { return impl_->bound_port; }

const ModelInfo& Server::model_info() const { return impl_->model->info(); }

Status Server::WaitReady() {
  std::unique_lock<std::mutex> lock(impl_->state_mu);
  impl_->state_cv.wait(lock, [&] { return impl_->load_done; });
  return impl_->load_status;
}

void Server::Stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) {
    Wait();
    return;
  }
  if (s.loader.joinable()) s.loader.join();  // loading cannot be interrupted
  if (s.pool) {
    s.pool->Close();  // queued requests get 503
    const auto grace = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(s.options.shutdown_grace_s));
    if (!s.pool->WaitIdle(std::chrono::steady_clock::now() + grace)) {
      s.cancel_all = true;  // cut the rest at their next token
      s.pool->WaitIdle(std::chrono::steady_clock::now() + std::chrono::seconds(30));
    }
  }
  s.http.stop();
  if (s.listener.joinable()) s.listener.join();
  std::lock_guard<std::mutex> lock(s.state_mu);
  s.stopped = true;
  s.state_cv.notify_all();
}

void Server::Wait() {
  std::unique_lock<std::mutex> lock(impl_->state_mu);
  impl_->state_cv.wait(lock, [&] { return impl_->stopped; });
}

}  // namespace dsvl::serve
