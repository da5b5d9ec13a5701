#include <cstdio>
#include <exception>

#include "commands.h"
#include "dsvl/error.h"

int main(int argc, char** argv) {
  CLI::App app{"dsvl: DeepSeek-VL and DeepSeek-VL2 inference engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dsvl 0.1.0");
  dsvl::cli::AddRunCommand(app);
  dsvl::cli::AddChatCommand(app);
  dsvl::cli::AddBenchCommand(app);
  dsvl::cli::AddInspectCommand(app);
  dsvl::cli::AddTokenizeCommand(app);
  dsvl::cli::AddMakeModelCommand(app);
  dsvl::cli::AddQuantizeCommand(app);
  dsvl::cli::AddServeCommand(app);
  dsvl::cli::AddTrainCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const dsvl::Error& e) {
    std::fprintf(stderr, "dsvl: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "dsvl: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsvl: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
