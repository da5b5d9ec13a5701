// Training data: conversations read from JSONL and turned into token ids and labels the way the
// official processors format them, with only the assistant turns supervised (SFT label masking).
//
// JSONL schema (one conversation per line):
//   {"id": "ex0", "messages": [{"role": "user", "content": "<image>\nWhat is this?", "images": ["a.png"]},
//                              {"role": "assistant", "content": "A tile."}]}
// Roles user / assistant (/ system first); `<image>` marks where each image goes (written `<image>` for
// both families; DeepSeek-VL's `<image_placeholder>` is accepted too); relative image paths are
// resolved against `images_dir` (empty: the JSONL file's directory).
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "model/chat_format.h"
#include "model/model_config.h"
#include "model/prompt_builder.h"

namespace dsvl {

class Tokenizer;

namespace train {

struct TrainingConversation {
  std::string id;
  std::vector<ChatMessage> messages;      // text with the family's image tag
  std::vector<std::string> image_paths;  // in order of the tags
};

// Bounds on one conversation (errors name the line): a line longer than this is refused before
// it is parsed, and so is a conversation with more messages (labelling is quadratic in turns).
constexpr size_t kMaxTrainingLineBytes = size_t{16} << 20;
constexpr size_t kMaxTrainingMessages = 1024;

// Reads every line; errors name the file, line and field. `family` decides the image tag written.
std::vector<TrainingConversation> ReadTrainingJsonl(const std::string& path, ModelFamily family,
                                                    const std::string& images_dir = "");
// The same from a stream; `where` names it in errors, `base` resolves relative image paths.
std::vector<TrainingConversation> ParseTrainingJsonl(std::istream& in, const std::string& where,
                                                     ModelFamily family, const std::string& base);

// Token ids with each image expanded to tokens_per_image[i] image ids, and unshifted labels:
// labels[t] = ids[t] inside assistant turns (the answer and its EOS), -100 elsewhere (system, template
// text, user turns, images, BOS). The official code runs the first turn's formatting as prompt + answer;
// each assistant turn is found as the tokens between the conversation tokenised up to the turn before
// and up to that turn (checked to be a token prefix, as the official masking assumes).
struct TrainingSequence {
  ExpandedPrompt prompt;        // ids, image mask and spans
  std::vector<int64_t> labels;  // same length as prompt.ids
  int64_t supervised = 0;
};
constexpr int64_t kIgnoreLabel = -100;

TrainingSequence FormatTrainingSequence(const ModelConfig& config, const Tokenizer& tokenizer,
                                        const std::vector<ChatMessage>& messages,
                                        const std::vector<int64_t>& tokens_per_image);

}  // namespace train
}  // namespace dsvl
