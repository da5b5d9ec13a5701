// Placeholder: being implemented.
#include "commands.h"

namespace dsvl::cli {

void AddInspectCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "(not yet implemented)");
  cmd->callback([] { throw CLI::RuntimeError("dsvl inspect: not implemented yet", 1); });
}

}  // namespace dsvl::cli
