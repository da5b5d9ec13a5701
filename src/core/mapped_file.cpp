#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dsvl/error.h"

namespace dsvl {

MappedFile MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    Throw(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
          ErrorContext{path, "", "", "", std::string("cannot open: ") + std::strerror(err)});
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "not a regular file"});
  }
  MappedFile f;
  f.path_ = path;
  f.size_ = static_cast<size_t>(st.st_size);
  if (f.size_ > 0) {
    void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", std::string("mmap failed: ") + std::strerror(err)});
    }
    f.data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : data_(o.data_), size_(o.size_), path_(std::move(o.path_)) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = o.data_;
    size_ = o.size_;
    path_ = std::move(o.path_);
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

std::string ReadFileToString(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Throw(ErrorCode::kNotFound, ErrorContext{path, "", "", "", "cannot open"});
  in.seekg(0, std::ios::end);
  std::streamoff n = in.tellg();
  if (n < 0) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "cannot read size"});
  if (static_cast<size_t>(n) > max_bytes)
    Throw(ErrorCode::kLimitExceeded,
          ErrorContext{path, "file size", "<= " + std::to_string(max_bytes), std::to_string(n), ""});
  in.seekg(0);
  std::string s(static_cast<size_t>(n), '\0');
  in.read(s.data(), n);
  if (!in) Throw(ErrorCode::kIo, ErrorContext{path, "", "", "", "short read"});
  return s;
}

}  // namespace dsvl
