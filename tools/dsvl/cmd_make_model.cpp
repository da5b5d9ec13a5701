// Placeholder: being implemented.
#include "commands.h"

namespace dsvl::cli {

void AddMakeModelCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("make-model", "(not yet implemented)");
  cmd->callback([] { throw CLI::RuntimeError("dsvl make-model: not implemented yet", 1); });
}

}  // namespace dsvl::cli
