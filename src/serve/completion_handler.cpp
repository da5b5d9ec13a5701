// POST /v1/chat/completions and /v1/completions: parse, wait for a slot, generate, reply (one JSON
// object, or SSE chunks as they come).
#include <memory>
#include <vector>

#include "serve/chat_request.h"
#include "serve/generation.h"
#include "serve/json_fields.h"
#include "serve/response_json.h"
#include "serve/server_impl.h"
#include "serve/sse.h"

namespace dsvl::serve {
namespace {

// Writes a running StreamJob's events as SSE; false (client gone) cancels the generation.
bool WriteStream(StreamJob& job, StreamJob::Event ev, const ReplyMeta& meta, const Model& model,
                 httplib::DataSink& sink) {
  const ParsedRequest& req = job.request();
  std::vector<bool> started(static_cast<size_t>(req.n), false);
  auto write = [&](const nlohmann::json& j) {
    const std::string s = SseEvent(j);
    return sink.write(s.data(), s.size());
  };
  // Chat streams open each choice with a chunk carrying the role.
  auto open = [&](int64_t index) {
    if (!meta.chat || started[index]) return true;
    started[index] = true;
    return write(ChunkJson(meta, req, index, "", true, nullptr, model));
  };
  while (true) {
    bool ok = true;
    switch (ev.kind) {
      case StreamJob::Event::kText:
        ok = open(ev.index) && write(ChunkJson(meta, req, ev.index, ev.text, false, nullptr, model));
        break;
      case StreamJob::Event::kChoiceDone:
        ok = open(ev.index) && write(ChunkJson(meta, req, ev.index, "", false, &ev.result, model));
        break;
      case StreamJob::Event::kFailed:
        // Headers are out: the error becomes an event, as OpenAI's streams report one.
        ok = write(FromStatus(ev.status).ToJson());
        break;
      case StreamJob::Event::kEnd: {
        if (req.include_usage) ok = write(UsageChunkJson(meta, job.results()));
        const std::string done = kSseDone;
        ok = ok && sink.write(done.data(), done.size());
        if (ok) sink.done();
        return ok;
      }
    }
    if (!ok) {
      job.Cancel();
      return false;
    }
    ev = job.Next();
  }
}

}  // namespace

void Server::Impl::HandleCompletion(const httplib::Request& http_req, httplib::Response& res, bool chat) {
  const Clock::time_point arrival = Clock::now();
  RequireReady();
  const json body = ParseBody(http_req.body);
  std::string prompt_text;
  ParsedRequest pr = chat ? ParseChatRequest(body, request_ctx) : ParseCompletionRequest(body, request_ctx, &prompt_text);
  if (!chat && pr.request.prompt_ids.empty()) {
    const Status s = model->Tokenize(prompt_text, /*add_special_tokens=*/true, &pr.request.prompt_ids);
    if (!s.ok()) throw FromStatus(s);
  }

  std::unique_ptr<SlotLease> lease;
  switch (pool->Acquire(pr.signature, &lease)) {
    case SlotPool::Outcome::kOk:
      break;
    case SlotPool::Outcome::kQueueFull:
      throw ApiError(429,
                     "server busy: all " + std::to_string(options.parallel) + " slots are running and " +
                         std::to_string(options.queue) + " requests are queued; retry later",
                     "", "queue_full");
    case SlotPool::Outcome::kShuttingDown:
      throw ApiError(503, "the server is shutting down", "", "shutting_down");
  }
  // n > 1: the choices run side by side on whatever slots are idle now (see TryAcquireIdle for
  // why this never waits), the rest in turn on those.
  std::vector<std::unique_ptr<SlotLease>> leases;
  leases.push_back(std::move(lease));
  if (pr.n > 1) pool->TryAcquireIdle(static_cast<int>(pr.n - 1), pr.signature, &leases);
  const ReplyMeta meta = NewReplyMeta(model_name, chat);
  const RunContext ctx{&metrics, &cancel_all, arrival};

  if (!pr.stream) {
    std::vector<GenerateResult> results;
    const Status s = RunChoices(leases, pr, ctx, {}, {}, &results);
    leases.clear();
    if (!s.ok()) throw FromStatus(s);
    SendJson(res, 200, ReplyJson(meta, pr, results, *model));
    return;
  }

  auto job = std::make_shared<StreamJob>(std::move(leases), std::move(pr), ctx);
  // Wait for the first event before answering 200: a request that fails before its first token
  // (an undecodable image, a prompt over the context) still gets a 4xx with a JSON error.
  auto first = std::make_shared<StreamJob::Event>(job->Next());
  if (first->kind == StreamJob::Event::kFailed) throw FromStatus(first->status);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  std::shared_ptr<Model> m = model;
  res.set_chunked_content_provider("text/event-stream",
                                   [job, first, meta, m](size_t, httplib::DataSink& sink) {
                                     return WriteStream(*job, std::move(*first), meta, *m, sink);
                                   });
}

}  // namespace dsvl::serve
