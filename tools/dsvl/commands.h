// Each `dsvl <command>` lives in its own cmd_*.cpp and registers itself on the app here. Commands
// throw dsvl::Error on bad input; main() prints it and exits with status 1.
#pragma once

#include <CLI/CLI.hpp>

namespace dsvl::cli {

void AddTokenizeCommand(CLI::App& app);
void AddInspectCommand(CLI::App& app);
void AddMakeModelCommand(CLI::App& app);
void AddRunCommand(CLI::App& app);
void AddBenchCommand(CLI::App& app);
void AddQuantizeCommand(CLI::App& app);

}  // namespace dsvl::cli
