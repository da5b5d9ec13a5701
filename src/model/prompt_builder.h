// Prompt token ids for the language model: chat messages (or ids given directly) -> ids in which
// every image is a run of image-token ids, plus where those runs are. The runs are later filled with
// the image embedder's rows, in order (masked_scatter in the official code).
#pragma once

#include <cstdint>
#include <vector>

#include "model/chat_format.h"
#include "model/model_config.h"

namespace dsvl {

class Tokenizer;

// VL2's processor registers its special tokens (when absent) in this order; doing the same gives
// the same ids on a tokenizer.json that lacks them.
void RegisterVl2SpecialTokens(Tokenizer& tokenizer);

// Token ids for a conversation with ONE image-token id standing for each image (not yet expanded).
//  VL1: tokenizer.Encode(FormatVl1Prompt(...), add_special_tokens=true) (BOS from the tokenizer).
//  VL2: [BOS] + per message: system text raw | user turn split on "<image>", pieces encoded
//       separately with the image id between | assistant answer (stripped) + [EOS]. Ends ready for
//       the assistant's answer (the processor's inference_mode).
// Throws kInvalidArgument when image tags and image counts disagree or a role is misplaced.
std::vector<int64_t> TokenizeConversation(const ModelConfig& config, const Tokenizer& tokenizer,
                                          const std::vector<ChatMessage>& messages, const std::string& system,
                                          int64_t image_token_id);

struct ImageSpan {
  int64_t start = 0;  // first position of the image's run
  int64_t length = 0;
};

struct ExpandedPrompt {
  std::vector<int64_t> ids;
  std::vector<uint8_t> image_mask;  // 1 at image positions (images_seq_mask)
  std::vector<ImageSpan> spans;     // one per image, in order
};

// Replaces the i-th occurrence of image_token_id with tokens_per_image[i] copies of it (VL1
// add_image_token; VL2 tokenize_with_images). Throws kInvalidArgument when the number of
// occurrences differs from the number of images.
ExpandedPrompt ExpandImageTokens(const std::vector<int64_t>& ids, int64_t image_token_id,
                                 const std::vector<int64_t>& tokens_per_image);

// Parses "1,2, 3" (the --prompt-ids flag). Throws kInvalidArgument naming the bad item.
std::vector<int64_t> ParseIdList(const std::string& list);

}  // namespace dsvl
