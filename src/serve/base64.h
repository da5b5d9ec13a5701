// Strict base64 (RFC 4648, standard alphabet, '=' padding optional, no whitespace): what data: URIs
// of images carry. Anything else is an error, never a partial decode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsvl::serve {

// nullopt when `text` is not valid base64 or would decode to more than max_bytes.
std::optional<std::vector<uint8_t>> DecodeBase64(std::string_view text, size_t max_bytes);

std::string EncodeBase64(const uint8_t* data, size_t n);  // tests and tools

}  // namespace dsvl::serve
