// Placeholder: being implemented.
#include "commands.h"

namespace dsvl::cli {

void AddBenchCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "(not yet implemented)");
  cmd->callback([] { throw CLI::RuntimeError("dsvl bench: not implemented yet", 1); });
}

}  // namespace dsvl::cli
