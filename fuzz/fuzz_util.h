// Helpers shared by the fuzz harnesses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace dsvl::fuzz {

// Splits a fuzz input into parts at each occurrence of kPartSeparator, so one input can carry
// several files (config.json + processor config, tokenizer.json + text + tokenizer_config.json).
// The separator is a line of its own in seeds, easy to write by hand and short for the mutator.
inline constexpr std::string_view kPartSeparator = "\n#--#\n";
std::vector<std::string_view> SplitParts(const uint8_t* data, size_t size, size_t max_parts);

// A directory private to this process (under /dev/shm when present, so a file per input costs no
// disk I/O), created on first use and removed at exit. Harnesses whose parser only reads files
// reuse fixed names in it.
const std::string& ScratchDir();
// Writes `bytes` to ScratchDir()/name (truncating) and returns the path.
std::string WriteScratchFile(const std::string& name, std::string_view bytes);
void RemoveScratchFile(const std::string& name);

// Called with each expected rejection (a dsvl::Error): prints its message when DSVL_FUZZ_VERBOSE is
// set, so replaying a corpus shows which inputs are accepted and why the others are refused.
void NoteRejection(const std::exception& e);

}  // namespace dsvl::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
