// What CPU this is, for benchmark reports: "model name" from /proc/cpuinfo plus family/model
// (in a VM the name alone can be as vague as "AMD EPYC"; family/model identify the core).
#pragma once

#include <string>

namespace dsvl {

std::string CpuDescription();  // e.g. "AMD EPYC (family 25, model 1)"; "unknown" if unreadable

}  // namespace dsvl
