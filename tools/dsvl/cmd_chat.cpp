// `dsvl chat`: a multi-turn conversation in the terminal. The answer streams to stdout; prompts,
// notes and a timing line per turn go to stderr, so piping stdout gives just the answers. Commands:
//   /image PATH   attach an image to the next message (repeatable)
//   /clear        forget the conversation (also /reset)
//   /save FILE    write the conversation as JSON
//   /quit         leave (also /exit, or end of input)
// Ctrl-C while an answer is streaming stops that answer and returns to the prompt; at the prompt it
// leaves. Earlier turns stay in the session's KV cache and their images' embeddings are kept, so a
// follow-up question neither re-encodes an image nor recomputes the earlier turns: the timing line
// shows the cached prompt tokens and the image-encode time of each turn.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "run_options.h"

namespace dsvl::cli {
namespace {

std::atomic<bool> generating{false};
std::atomic<bool> interrupted{false};

// Async-signal-safe: only atomics and _exit.
void OnSigint(int) {
  if (generating.load()) {
    interrupted.store(true);
  } else {
    _exit(130);  // at the prompt: leave, as a shell does
  }
}

void InstallSigint() {
  struct sigaction sa {};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
}

void Note(const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); }

void SaveConversation(const Session& session, const std::string& model_dir, const std::string& path) {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  for (const Message& m : session.history()) {
    nlohmann::ordered_json images = nlohmann::ordered_json::array();
    for (const ImageInput& img : m.images) images.push_back(img.path);
    messages.push_back({{"role", m.role}, {"content", m.text}, {"images", std::move(images)}});
  }
  const nlohmann::ordered_json doc{{"model", model_dir}, {"messages", std::move(messages)}};
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  out.close();
  if (!out) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "could not write the conversation"});
}

void TimingLine(const GenerateResult& res) {
  const Timings& t = res.timings;
  std::fprintf(stderr, "[%zu tokens, %s; prompt %lld tokens, %lld cached; image encode %.0f ms; prefill %.1f tok/s; "
                       "decode %.1f tok/s]\n",
               res.ids.size(), FinishReasonName(res.finish_reason), static_cast<long long>(res.prompt_tokens),
               static_cast<long long>(res.cached_tokens), t.image_encode_ms, t.prefill_tok_s, t.decode_tok_s);
}

}  // namespace

void RunChat(const RunOptions& o) {
  std::shared_ptr<Model> model = LoadModel(o);
  std::unique_ptr<Session> session;
  Check(Session::Create(model, &session));
  const bool tty = isatty(STDIN_FILENO);
  InstallSigint();
  std::vector<ImageInput> pending;
  for (const std::string& path : o.images) pending.push_back(ImageInput::FromPath(path));
  std::vector<ImageInput> all_images;  // of the conversation, for --draw-boxes
  if (tty) Note("dsvl chat: /image PATH attaches an image, /clear forgets, /save FILE, /quit; Ctrl-C stops an answer.");
  std::string first = o.prompt;
  std::string line;
  while (true) {
    if (!first.empty()) {
      line = std::move(first);
      first.clear();
    } else {
      if (tty) {
        std::fprintf(stderr, "> ");
        std::fflush(stderr);
      }
      if (!std::getline(std::cin, line)) break;
    }
    if (line.empty()) continue;
    if (line == "/quit" || line == "/exit") break;
    if (line == "/clear" || line == "/reset") {
      session->Reset();
      pending.clear();
      all_images.clear();
      Note("(conversation cleared)");
      continue;
    }
    if (line.rfind("/image ", 0) == 0) {
      pending.push_back(ImageInput::FromPath(line.substr(7)));
      Note("(image attached to the next message)");
      continue;
    }
    if (line.rfind("/save ", 0) == 0) {
      try {
        SaveConversation(*session, o.model, line.substr(6));
        Note("(conversation saved to " + line.substr(6) + ")");
      } catch (const Error& e) {
        Note(std::string("dsvl: error: ") + e.what());
      }
      continue;
    }
    if (line[0] == '/') {
      Note("unknown command " + line + " (/image PATH, /clear, /save FILE, /quit)");
      continue;
    }
    GenerateRequest req = BaseRequest(o);
    req.progress = {};  // the timing line says it; progress would interleave with the streamed text
    req.messages.push_back(Message{"user", line, pending});
    GenerateResult res;
    interrupted.store(false);
    generating.store(true);
    const Status s = session->Generate(req, &res, [](int64_t, std::string_view piece) {
      WriteOut(piece);
      return !interrupted.load();
    });
    generating.store(false);
    if (!s.ok()) {
      // A bad turn (unreadable image, context full) leaves the conversation as it was.
      Note("dsvl: error: " + s.message());
      pending.clear();
      continue;
    }
    all_images.insert(all_images.end(), pending.begin(), pending.end());
    pending.clear();
    WriteOut("\n");
    if (res.finish_reason == FinishReason::kCancelled) Note("(stopped)");
    TimingLine(res);
    ReportWarnings(res);
    if (!res.boxes.empty() && !o.draw_boxes.empty()) {
      Check(DrawBoxesToPng(all_images.back(), res.boxes, o.draw_boxes));
      Note("(boxes drawn to " + o.draw_boxes + ")");
    }
  }
}

void AddChatCommand(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("chat", "Multi-turn chat in the terminal (streams answers; /image, /clear, /save)");
  AddModelAndGenerationOptions(cmd, o.get());
  cmd->callback([o] { RunChat(*o); });
}

}  // namespace dsvl::cli
