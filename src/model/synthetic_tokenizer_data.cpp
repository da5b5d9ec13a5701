// Embedded data for the synthetic tokenizer: the pre_tokenizer sections of the real DeepSeek
// tokenizer.json files (tests/data/tokenizers/*/tokenizer.json, JSON with \u escapes so the code
// points stay exact: NFC-normalising these classes breaks them) and a small English training text.
#include "model/synthetic_tokenizer_data.h"

namespace dsvl::synthetic_tokenizer_data {

// DeepSeek-LLM (DeepSeek-VL, DeepSeek-VL2-small): five Split regexes, Digits, ByteLevel.
const char* const kDeepSeekLlmPreTokenizer =
    R"j({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"[\r\n]"},"behavior":"Iso)j"
    R"j(lated","invert":false},{"type":"Split","pattern":{"Regex":"\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-)j"
    R"j(\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d)j"
    R"j(\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556)j"
    R"j(\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d7)j"
    R"j(9-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5)j"
    R"j(f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1f)j"
    R"j(e0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u212)j"
    R"j(8\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e)j"
    R"j(-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78)j"
    R"j(e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\ud801\udc00-\ud801\udc4f\ud80)j"
    R"j(1\udcb0-\ud801\udcd3\ud801\udcd8-\ud801\udcfb\ud803\udc80-\ud803\udcb2\ud803\udcc0-\ud803\udcf2\)j"
    R"j(ud806\udca0-\ud806\udcdf\ud83a\udd00-\ud83a\udd43]+"},"behavior":"Isolated","invert":false},{"ty)j"
    R"j(pe":"Split","pattern":{"Regex":"\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002])j"
    R"j(+"},"behavior":"Isolated","invert":false},{"type":"Split","pattern":{"Regex":"\\s+$"},"behavior")j"
    R"j(:"Isolated","invert":false},{"type":"Split","pattern":{"Regex":"[\u4e00-\u9fa5\u0800-\u4e00\uac0)j"
    R"j(0-\ud7ff]+"},"behavior":"Isolated","invert":false},{"type":"Digits","individual_digits":true},{")j"
    R"j(type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]})j";

// DeepSeek-V3 (DeepSeek-VL2-tiny and -base): three Split regexes, ByteLevel.
const char* const kDeepSeekV3PreTokenizer =
    R"j({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\p{N}{1,3}"},"behavior")j"
    R"j(:"Isolated","invert":false},{"type":"Split","pattern":{"Regex":"[\u4e00-\u9fa5\u3040-\u309f\u30a)j"
    R"j(0-\u30ff]+"},"behavior":"Isolated","invert":false},{"type":"Split","pattern":{"Regex":"[!\"#$%&')j"
    R"j(()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P})j"
    R"j(\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},"behavior":"Isolated","invert":false},{"type":"By)j"
    R"j(teLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}]})j";

// Training text for the tiny BPE trainer (written for dsvl): plain English with the words a
// vision-language chat uses, digits and punctuation, so the learned merges look like a real
// vocabulary's first merges (" t", " a", "in", "the" ...).
const char* const kEnglishSample =
    R"t(The picture shows a small red house at the end of a quiet street. In front of the house there is
a garden with tall green trees, a wooden fence and three white chairs. A dog is sleeping in the shade
while two children are playing with a ball near the gate. The sky is blue and there are a few clouds
over the hills in the distance.

Describe each stage of this image. First, the model looks at the whole picture at a low resolution;
then it looks at every tile of the image in more detail. The vision encoder turns each tile into a
grid of features, the projector maps those features into the space of the language model, and the
language model writes the answer one token at a time. When the user asks where an object is, the
answer contains a box with four numbers between 0 and 999: the left, top, right and bottom edges.

User: What is written on the sign next to the door?
Assistant: The sign says "Open from 9:00 to 17:30, Monday to Friday". Below it there is a phone
number, 555-0142, and a small picture of a cup of coffee.

User: How many people can you see, and what are they doing?
Assistant: I can see four people. Two of them are sitting at a table and talking, one is reading a
newspaper, and the last one is walking towards the station with a large bag on her shoulder.

Good tokenizers split text into pieces that appear often in the training data. Common words such as
"the", "and", "of", "to", "in", "is" and "that" become single tokens, while rare words are written
with several shorter pieces. Numbers like 2024, 3.14 and 1,000,000 are split into digits or short
groups of digits, and punctuation marks are kept apart from the words around them.

The weather report for the weekend: on Saturday it will be sunny with a high of 24 degrees, on
Sunday there may be light rain in the morning and strong wind along the coast in the afternoon.
People who want to go hiking should start early, bring water and a warm jacket, and check the
forecast again before they leave the house.

A recipe for a simple bread: mix 500 grams of flour, 10 grams of salt, 7 grams of yeast and 350
millilitres of warm water. Knead the dough for ten minutes, let it rise for one hour, shape it into a
loaf and bake it at 220 degrees for about thirty-five minutes, until the crust is brown and the
bottom sounds hollow when you tap it.
)t";

}  // namespace dsvl::synthetic_tokenizer_data
