// `dsvl serve`: the OpenAI-compatible HTTP server (src/serve). SIGINT / SIGTERM stop it gracefully:
// new requests are refused, running ones get --shutdown-timeout seconds to finish, then are cut.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "precision_option.h"
#include "quant_flags.h"
#include "serve/server.h"

namespace dsvl::cli {
namespace {

struct ServeFlags {
  serve::ServerOptions server;
  QuantFlags quant;
  double max_body_mb = 32;
};

void Serve(ServeFlags& f) {
  f.quant.ApplyTo(f.server.model);
  f.server.max_body_bytes = static_cast<size_t>(f.max_body_mb * 1024 * 1024);
  // Block the stop signals in every thread (the server's threads inherit this mask); this thread
  // takes them with sigtimedwait, so no handler runs in an arbitrary thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up is a failed write, not a dead server

  serve::Server server(f.server);
  Status s = server.Start();
  if (!s.ok()) throw Error(s.code(), s.message());
  std::fprintf(stderr, "dsvl serve: listening on http://%s:%d (loading %s)\n", f.server.host.c_str(), server.port(),
               f.server.model.dir.c_str());
  std::fflush(stderr);
  s = server.WaitReady();
  if (!s.ok()) {
    server.Stop();
    throw Error(s.code(), s.message());
  }
  const ModelInfo& info = server.model_info();
  const double kv_mib = static_cast<double>(info.kv_bytes_per_token) * static_cast<double>(info.max_context) *
                        f.server.parallel / (1 << 20);
  std::fprintf(stderr,
               "dsvl serve: model loaded; %d slot(s) x %lld context tokens (KV cache up to %.0f MiB, %s), queue %d\n",
               f.server.parallel, static_cast<long long>(info.max_context), kv_mib, info.kv_type.c_str(),
               f.server.queue);
  std::fflush(stderr);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "dsvl serve: %s received, stopping (running requests get %.0f s)\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", f.server.shutdown_grace_s);
  std::fflush(stderr);
  server.Stop();
  std::fprintf(stderr, "dsvl serve: stopped\n");
}

}  // namespace

void AddServeCommand(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  serve::ServerOptions& o = f->server;
  auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server (chat completions with images)");
  cmd->add_option("-m,--model", o.model.dir, "model directory")->required();
  cmd->add_option("--host", o.host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o.port, "port (0 = any free port, printed on stderr)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--api-key", o.api_key, "require 'Authorization: Bearer KEY' (all endpoints but /health)");
  cmd->add_option("--parallel", o.parallel, "conversations served at once (one session and KV cache each)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--queue", o.queue, "requests that may wait for a free slot; more get 429")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  cmd->add_option("-c,--ctx-size", o.model.max_context,
                  "context (KV-cache) tokens per slot (0 = the model's maximum, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--allow-local-files", o.allow_local_files,
                  "let image_url be file:///PATH for files under this directory (links resolved)");
  cmd->add_option("-t,--threads", o.model.threads, "threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--alias", o.model_name, "model id in /v1/models and replies (default: the directory's name)");
  cmd->add_option("--max-body-mb", f->max_body_mb, "largest request body in MiB (images are base64 in it)")
      ->check(CLI::Range(0.001, 4096.0))
      ->capture_default_str();
  cmd->add_option("--max-images", o.model.limits.max_images, "images per request")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-image-pixels", o.model.limits.max_image_pixels, "pixels (width x height) per image")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--shutdown-timeout", o.shutdown_grace_s,
                  "seconds running requests may finish after SIGINT/SIGTERM before they are cut")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--log-requests", o.log_requests, "one line per request on stderr");
  AddPrecisionOption(cmd, &o.model.precision);
  AddKvTypeOption(cmd, &o.model.kv_type);
  AddQuantFlags(cmd, f->quant);
  cmd->callback([f] { Serve(*f); });
}

}  // namespace dsvl::cli
