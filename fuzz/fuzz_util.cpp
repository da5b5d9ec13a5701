#include "fuzz_util.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace dsvl::fuzz {
namespace fs = std::filesystem;

std::vector<std::string_view> SplitParts(const uint8_t* data, size_t size, size_t max_parts) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const size_t at = rest.find(kPartSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kPartSeparator.size());
  }
  parts.push_back(rest);
  return parts;
}

namespace {

std::string* g_scratch = nullptr;

void RemoveScratch() {
  if (!g_scratch) return;
  std::error_code ec;
  fs::remove_all(*g_scratch, ec);
}

}  // namespace

const std::string& ScratchDir() {
  if (!g_scratch) {
    std::error_code ec;
    const char* base = fs::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
    std::string tmpl = std::string(base) + "/dsvl-fuzz-XXXXXX";
    if (!mkdtemp(tmpl.data())) {
      std::perror("dsvl fuzz: mkdtemp");
      std::abort();
    }
    g_scratch = new std::string(tmpl);
    std::atexit(RemoveScratch);
  }
  return *g_scratch;
}

std::string WriteScratchFile(const std::string& name, std::string_view bytes) {
  const std::string path = ScratchDir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "dsvl fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

void RemoveScratchFile(const std::string& name) {
  std::error_code ec;
  fs::remove(ScratchDir() + "/" + name, ec);
}

void NoteRejection(const std::exception& e) {
  static const bool verbose = std::getenv("DSVL_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "rejected: %s\n", e.what());
}

}  // namespace dsvl::fuzz
