// Placeholder: being implemented.
#include "commands.h"

namespace dsvl::cli {

void AddRunCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "(not yet implemented)");
  cmd->callback([] { throw CLI::RuntimeError("dsvl run: not implemented yet", 1); });
}

}  // namespace dsvl::cli
