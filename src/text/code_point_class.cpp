#include "text/code_point_class.h"

#include "text/utf8.h"

namespace dsvl::text {

CodePointClass::CodePointClass(const std::string& pattern, const std::string& where)
    : regex_(pattern, where), pages_(new std::atomic<std::atomic<uint8_t>*>[kPages]) {
  for (uint32_t i = 0; i < kPages; ++i) pages_[i].store(nullptr, std::memory_order_relaxed);
  for (uint32_t cp = 0; cp < 128; ++cp) ascii_[cp] = AskRegex(cp);
}

CodePointClass::~CodePointClass() {
  for (uint32_t i = 0; i < kPages; ++i) delete[] pages_[i].load(std::memory_order_relaxed);
}

bool CodePointClass::AskRegex(uint32_t cp) const {
  std::string s;
  AppendCodePoint(cp, s);
  return regex_.MatchPrefix(s) == s.size();
}

bool CodePointClass::FirstLookup(uint32_t cp) const {
  auto& slot = pages_[cp >> kPageBits];
  std::atomic<uint8_t>* page = slot.load(std::memory_order_acquire);
  if (page == nullptr) {
    auto* fresh = new std::atomic<uint8_t>[kPageSize];
    for (uint32_t i = 0; i < kPageSize; ++i) fresh[i].store(kUnknown, std::memory_order_relaxed);
    if (slot.compare_exchange_strong(page, fresh, std::memory_order_acq_rel)) {
      page = fresh;
    } else {
      delete[] fresh;  // another thread installed its page first; `page` now holds it
    }
  }
  auto& entry = page[cp & kPageMask];
  uint8_t state = entry.load(std::memory_order_relaxed);
  if (state == kUnknown) {
    state = AskRegex(cp) ? kIn : kOut;
    entry.store(state, std::memory_order_relaxed);
  }
  return state == kIn;
}

}  // namespace dsvl::text
