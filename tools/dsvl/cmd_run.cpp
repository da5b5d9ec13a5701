// `dsvl run`: one prompt (or an interactive chat) with images through the whole pipeline. Text
// streams to stdout; --json prints one object instead. Progress goes to stderr, only on a terminal.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "run_options.h"
#include "dsvl/dsvl.h"
#include "model/prompt_builder.h"

namespace dsvl::cli {
namespace {

void DrawIfAsked(const RunOptions& o, const std::vector<ImageInput>& images, const GenerateResult& res) {
  if (o.draw_boxes.empty()) return;
  if (res.boxes.empty()) std::fprintf(stderr, "dsvl: note: the answer has no boxes; writing the image as is\n");
  Check(DrawBoxesToPng(images.back(), res.boxes, o.draw_boxes));
}

void RunOnce(const RunOptions& o) {
  if (o.prompt.empty() == o.prompt_ids.empty()) {
    Throw(ErrorCode::kInvalidArgument, "dsvl run: give exactly one of -p/--prompt and --prompt-ids (or -i)");
  }
  if (!o.draw_boxes.empty() && o.images.empty()) {
    Throw(ErrorCode::kInvalidArgument, "--draw-boxes: no --image to draw on");
  }
  std::vector<ImageInput> images;
  for (const std::string& path : o.images) images.push_back(ImageInput::FromPath(path));
  std::vector<int64_t> ids;
  if (!o.prompt_ids.empty()) ids = ParseIdList(o.prompt_ids);
  if (!ids.empty() && !o.system.empty()) {
    Throw(ErrorCode::kInvalidArgument, "dsvl run: --system needs -p, not --prompt-ids");
  }
  std::shared_ptr<Model> model = LoadModel(o);
  std::unique_ptr<Session> session;
  Check(Session::Create(model, &session));
  GenerateRequest req = BaseRequest(o);
  if (!ids.empty()) {
    req.prompt_ids = ids;
    req.images = images;
  } else {
    req.messages.push_back(Message{"user", o.prompt, images});
  }
  GenerateResult res;
  Check(session->Generate(req, &res, o.json ? TokenCallback() : StreamToStdout()));
  if (o.json) {
    WriteOut(ResultJson(res, o.logprobs > 0).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  } else {
    WriteOut("\n");
  }
  ReportWarnings(res);
  DrawIfAsked(o, images, res);
}

}  // namespace

void AddRunCommand(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand("run", "Generate an answer for a prompt with images");
  AddModelAndGenerationOptions(cmd, o.get());
  cmd->add_option("-p,--prompt", o->prompt, "prompt text (images without a tag go before it)");
  cmd->add_option("--prompt-ids", o->prompt_ids,
                  "comma-separated, already formatted prompt ids (no BOS added; each image token id stands for the "
                  "next --image)");
  cmd->add_flag("--json", o->json, "print one JSON object instead of streaming text");
  cmd->add_option("--logprobs", o->logprobs, "with --json: per step the chosen id's log-probability and the N most likely ids")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-i,--interactive", o->interactive, "multi-turn chat on stdin (the same as `dsvl chat`)");
  AddQuantFlags(cmd, o->quant);
  cmd->callback([o] {
    if (o->interactive) {
      if (!o->prompt_ids.empty()) Throw(ErrorCode::kInvalidArgument, "dsvl run: -i cannot be used with --prompt-ids");
      RunChat(*o);
    } else {
      RunOnce(*o);
    }
  });
}

}  // namespace dsvl::cli
