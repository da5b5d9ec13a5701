#include "core/cpu_info.h"

#include <fstream>

namespace dsvl {

std::string CpuDescription() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, name = "unknown", family, model;
  auto value = [](const std::string& l) {
    const size_t colon = l.find(':');
    if (colon == std::string::npos) return std::string();
    const size_t start = l.find_first_not_of(' ', colon + 1);
    return start == std::string::npos ? std::string() : l.substr(start);
  };
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) name = value(line);
    else if (line.rfind("cpu family", 0) == 0) family = value(line);
    else if (line.rfind("model", 0) == 0) model = value(line);
    else if (line.empty() && !family.empty()) break;  // first processor only
  }
  return family.empty() ? name : name + " (family " + family + ", model " + model + ")";
}

}  // namespace dsvl
