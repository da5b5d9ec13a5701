// `dsvl serve`: an OpenAI-compatible HTTP server over the public API (include/dsvl/dsvl.h).
//   POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, GET /metrics,
//   POST /tokenize, POST /detokenize.
// --parallel slots each own a Session; requests beyond them wait in a bounded queue (429 when it is
// full). The model loads in the background after the port is bound (/health answers 503 until
// then). Stop() refuses new work, lets running requests finish within the grace period, then
// cancels them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "dsvl/dsvl.h"

namespace dsvl::serve {

struct ServerOptions {
  ModelOptions model;               // checkpoint, threads, context per slot (--ctx-size), input limits
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (see Server::port)
  std::string api_key;              // "": no authentication
  int parallel = 1;                 // slots (sessions)
  int queue = 16;                   // requests waiting for a slot beyond `parallel`
  std::string allow_local_files;    // directory file:// image URLs may read ("" = none)
  size_t max_body_bytes = size_t{32} << 20;
  int max_n = 8;                    // choices per request
  std::string model_name;           // the id in /v1/models and replies ("": the directory's name)
  double shutdown_grace_s = 10.0;   // Stop(): how long running requests may still finish
  bool log_requests = false;        // one line per request on stderr
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // Stop()s

  // Binds the port and starts serving and loading the model; returns once listening.
  Status Start();
  int port() const;
  // Blocks until the model is loaded (its error if loading failed).
  Status WaitReady();
  // The loaded model's facts (after WaitReady succeeded).
  const ModelInfo& model_info() const;
  // Graceful stop (idempotent, any thread). Returns when the listener and every handler are done.
  void Stop();
  // Blocks until Stop() has finished.
  void Wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsvl::serve
