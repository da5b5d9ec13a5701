// `dsvl inspect -m DIR [--json]`: family, architecture, parameter counts, dtypes and size of a
// checkpoint directory, and every tensor checked against the manifest its config implies. Exits
// with status 1 when a tensor is missing, unexpected or mis-shaped (or the engine cannot load it).
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "model/inspect.h"

namespace dsvl::cli {
namespace {

struct InspectOptions {
  std::string model;
  bool json = false;
  bool tensors = false;
};

}  // namespace

void AddInspectCommand(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand("inspect",
                                 "Describe a checkpoint and check its tensors against its config");
  cmd->add_option("-m,--model", opts->model, "model directory")->required();
  cmd->add_flag("--json", opts->json, "print the report as JSON (with every tensor's dtype, shape and bytes)");
  cmd->add_flag("--tensors", opts->tensors, "list every tensor's dtype, shape and size");
  cmd->callback([opts] {
    const InspectReport report = InspectModel(opts->model);
    const std::string text =
        opts->json ? InspectReportJson(report).dump(2) + "\n" : FormatInspectReport(report, opts->tensors);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (!report.ok()) throw CLI::RuntimeError(1);
  });
}

}  // namespace dsvl::cli
