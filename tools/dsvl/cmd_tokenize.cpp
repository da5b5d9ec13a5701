// Placeholder: being implemented.
#include "commands.h"

namespace dsvl::cli {

void AddTokenizeCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "(not yet implemented)");
  cmd->callback([] { throw CLI::RuntimeError("dsvl tokenize: not implemented yet", 1); });
}

}  // namespace dsvl::cli
