// Read-only memory map of a whole file. Checkpoints are used in place: the OS pages weights in on
// first touch and can drop them under pressure, and no heap copy of the model is ever made.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dsvl {

class MappedFile {
 public:
  MappedFile() = default;
  // Throws Error(kIo / kNotFound) naming the path.
  static MappedFile Open(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file into a string; throws naming the path.
std::string ReadFileToString(const std::string& path, size_t max_bytes = size_t{1} << 30);

}  // namespace dsvl
