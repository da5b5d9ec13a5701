#include "npy.h"

#include <cstring>
#include <fstream>
#include <stdexcept>

namespace dsvl::test {

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> NpyArray::f32() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  if (descr == "<f4") {
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
  } else {
    std::vector<int64_t> v = i64();
    for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i]);
  }
  return out;
}

std::vector<int64_t> NpyArray::i64() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    if (descr == "<i8") std::memcpy(&out[i], bytes.data() + i * 8, 8);
    else if (descr == "<i4") { int32_t v; std::memcpy(&v, bytes.data() + i * 4, 4); out[i] = v; }
    else if (descr == "|b1" || descr == "|u1") out[i] = bytes[i];
    else throw std::runtime_error("npy: unsupported dtype " + descr);
  }
  return out;
}

NpyArray LoadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("npy: cannot open " + path);
  char magic[6];
  in.read(magic, 6);
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error("npy: bad magic " + path);
  uint8_t ver[2];
  in.read(reinterpret_cast<char*>(ver), 2);
  uint32_t hlen = 0;
  if (ver[0] == 1) {
    uint8_t b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    uint8_t b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  std::string header(hlen, '\0');
  in.read(header.data(), hlen);
  NpyArray a;
  auto d = header.find("'descr':");
  auto q1 = header.find('\'', d + 8);
  auto q2 = header.find('\'', q1 + 1);
  a.descr = header.substr(q1 + 1, q2 - q1 - 1);
  if (header.find("'fortran_order': True") != std::string::npos) throw std::runtime_error("npy: fortran order");
  auto s = header.find("'shape':");
  auto p1 = header.find('(', s);
  auto p2 = header.find(')', p1);
  std::string dims = header.substr(p1 + 1, p2 - p1 - 1);
  size_t pos = 0;
  while (pos < dims.size()) {
    while (pos < dims.size() && (dims[pos] == ' ' || dims[pos] == ',')) ++pos;
    if (pos >= dims.size()) break;
    size_t end = pos;
    while (end < dims.size() && dims[end] >= '0' && dims[end] <= '9') ++end;
    a.shape.push_back(std::stoll(dims.substr(pos, end - pos)));
    pos = end;
  }
  size_t elem = a.descr == "<f4" || a.descr == "<i4" ? 4 : a.descr == "<i8" ? 8 : 1;
  a.bytes.resize(static_cast<size_t>(a.numel()) * elem);
  in.read(reinterpret_cast<char*>(a.bytes.data()), static_cast<std::streamsize>(a.bytes.size()));
  if (!in) throw std::runtime_error("npy: truncated " + path);
  return a;
}

std::string DataDir() { return DSVL_TEST_DATA_DIR; }
std::string FixtureDir() { return std::string(DSVL_TEST_DATA_DIR) + "/fixtures"; }

}  // namespace dsvl::test
