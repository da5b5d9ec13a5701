// State shared by the server's handlers (server.cpp: lifecycle and small endpoints;
// completion_handler.cpp: /v1/chat/completions and /v1/completions).
#pragma once

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "serve/api_error.h"
#include "serve/metrics.h"
#include "serve/request_context.h"
#include "serve/server.h"
#include "serve/slot_pool.h"

namespace dsvl::serve {

struct Server::Impl {
  explicit Impl(ServerOptions o) : options(std::move(o)) {}

  void Route();
  void HandleCompletion(const httplib::Request& req, httplib::Response& res, bool chat);
  void Load();
  // 503 unless the model is loaded and the server not stopping.
  void RequireReady() const;

  ServerOptions options;
  httplib::Server http;
  int bound_port = 0;
  std::thread listener, loader;

  std::shared_ptr<Model> model;
  std::unique_ptr<SlotPool> pool;
  RequestContext request_ctx;
  std::string model_name;
  Metrics metrics;

  std::atomic<bool> ready{false}, stopping{false}, cancel_all{false};
  mutable std::mutex state_mu;
  std::condition_variable state_cv;
  bool load_done = false, stopped = false;
  Status load_status;
};

void SendError(httplib::Response& res, const ApiError& e);
void SendJson(httplib::Response& res, int status, const nlohmann::json& body);

}  // namespace dsvl::serve
