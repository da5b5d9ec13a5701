// Bearer-token check for --api-key, in constant time (no early exit on the first differing byte,
// so response timing does not reveal how much of a guess was right).
#pragma once

#include <string_view>

namespace dsvl::serve {

bool ConstantTimeEquals(std::string_view a, std::string_view b);
// `header` is the Authorization header's value: "Bearer <key>".
bool BearerTokenMatches(std::string_view header, std::string_view key);

}  // namespace dsvl::serve
