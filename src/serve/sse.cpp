#include "serve/sse.h"

namespace dsvl::serve {

std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string SseEvent(const nlohmann::json& j) { return "data: " + DumpJson(j) + "\n\n"; }

}  // namespace dsvl::serve
