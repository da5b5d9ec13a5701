// The C API (include/dsvl/dsvl_c.h) against the C++ API it wraps, both taken from the shared
// libdsvl: same ids and text for the same request; every misuse a C caller can make comes back as a
// status with a message, never a crash. (Links only libdsvl, no internal library, so the test sees
// what an outside program sees.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dsvl/dsvl.h"
#include "dsvl/dsvl_c.h"

namespace {

const std::string kVl2 = std::string(DSVL_TEST_DATA_DIR) + "/fixtures/vl2_tiny/ckpt";
const std::string kImageA = std::string(DSVL_TEST_DATA_DIR) + "/fixtures/images/A_640x480.jpg";

dsvl_model* LoadOrDie(const std::string& dir) {
  dsvl_model_params p;
  dsvl_model_params_init(&p);
  p.dir = dir.c_str();
  p.threads = 2;
  dsvl_model* m = nullptr;
  EXPECT_EQ(dsvl_model_load(&p, &m), DSVL_OK) << dsvl_last_error();
  return m;
}

struct Collected {
  std::vector<int64_t> ids;
  std::string text;
  int stop_after = -1;  // return 0 once this many tokens were seen
};

int Collect(int64_t id, const char* piece, size_t len, void* user) {
  auto* c = static_cast<Collected*>(user);
  if (id >= 0) c->ids.push_back(id);
  c->text.append(piece, len);
  return c->stop_after < 0 || static_cast<int>(c->ids.size()) < c->stop_after;
}

TEST(CApi, GenerationMatchesTheCppApi) {
  dsvl_model* model = LoadOrDie(kVl2);
  ASSERT_NE(model, nullptr);
  dsvl_session* session = nullptr;
  ASSERT_EQ(dsvl_session_create(model, &session), DSVL_OK) << dsvl_last_error();

  dsvl_image image{kImageA.c_str(), nullptr, 0};
  dsvl_message msg{"user", "Describe the image.", &image, 1};
  dsvl_generate_params gp;
  dsvl_generate_params_init(&gp);
  gp.max_new_tokens = 8;
  gp.ignore_eos = 1;
  Collected streamed;
  dsvl_result* result = nullptr;
  ASSERT_EQ(dsvl_session_generate(session, &msg, 1, &gp, Collect, &streamed, &result), DSVL_OK) << dsvl_last_error();
  ASSERT_NE(result, nullptr);
  const std::vector<int64_t> c_ids(dsvl_result_tokens(result), dsvl_result_tokens(result) + dsvl_result_n_tokens(result));
  EXPECT_EQ(c_ids.size(), 8u);
  EXPECT_EQ(streamed.ids, c_ids);
  EXPECT_EQ(dsvl_result_finish_reason(result), DSVL_FINISH_LENGTH);
  EXPECT_GT(dsvl_result_prompt_tokens(result), 8);

  // The same request through the C++ API.
  dsvl::ModelOptions o;
  o.dir = kVl2;
  o.threads = 2;
  std::shared_ptr<dsvl::Model> cpp_model;
  ASSERT_TRUE(dsvl::Model::Load(o, &cpp_model).ok());
  std::unique_ptr<dsvl::Session> cpp_session;
  ASSERT_TRUE(dsvl::Session::Create(cpp_model, &cpp_session).ok());
  dsvl::GenerateRequest req;
  req.messages.push_back(dsvl::Message{"user", "Describe the image.", {dsvl::ImageInput::FromPath(kImageA)}});
  req.max_new_tokens = 8;
  req.ignore_eos = true;
  dsvl::GenerateResult want;
  ASSERT_TRUE(cpp_session->Generate(req, &want).ok());
  EXPECT_EQ(c_ids, want.ids);
  EXPECT_EQ(std::string(dsvl_result_text(result)), want.text);
  EXPECT_EQ(dsvl_result_prompt_tokens(result), want.prompt_tokens);

  // A second turn reuses the session's cache for the first turn's tokens.
  dsvl_result_free(result);
  dsvl_message follow{"user", "And again?", nullptr, 0};
  ASSERT_EQ(dsvl_session_generate(session, &follow, 1, &gp, nullptr, nullptr, &result), DSVL_OK) << dsvl_last_error();
  EXPECT_GT(dsvl_result_cached_tokens(result), 0);
  dsvl_result_free(result);

  dsvl_session_free(session);
  dsvl_model_free(model);
}

TEST(CApi, CallbackReturningZeroCancels) {
  dsvl_model* model = LoadOrDie(kVl2);
  ASSERT_NE(model, nullptr);
  dsvl_session* session = nullptr;
  ASSERT_EQ(dsvl_session_create(model, &session), DSVL_OK);
  // The model may be freed first: the session keeps it alive.
  dsvl_model_free(model);
  dsvl_message msg{"user", "Hello", nullptr, 0};
  dsvl_generate_params gp;
  dsvl_generate_params_init(&gp);
  gp.max_new_tokens = 20;
  gp.ignore_eos = 1;
  Collected c;
  c.stop_after = 3;
  dsvl_result* result = nullptr;
  ASSERT_EQ(dsvl_session_generate(session, &msg, 1, &gp, Collect, &c, &result), DSVL_OK) << dsvl_last_error();
  EXPECT_EQ(dsvl_result_finish_reason(result), DSVL_FINISH_CANCELLED);
  EXPECT_EQ(dsvl_result_n_tokens(result), 3u);
  dsvl_result_free(result);
  dsvl_session_free(session);
}

TEST(CApi, TokenizeRoundTripsAndReportsTheNeededCapacity) {
  dsvl_model* model = LoadOrDie(kVl2);
  ASSERT_NE(model, nullptr);
  size_t n = 0;
  EXPECT_EQ(dsvl_tokenize(model, "Hello world", 0, nullptr, 0, &n), DSVL_ERR_LIMIT_EXCEEDED);
  EXPECT_NE(std::string(dsvl_last_error()).find("capacity"), std::string::npos);
  ASSERT_GT(n, 0u);
  std::vector<int64_t> ids(n);
  ASSERT_EQ(dsvl_tokenize(model, "Hello world", 0, ids.data(), ids.size(), &n), DSVL_OK) << dsvl_last_error();
  char* text = nullptr;
  ASSERT_EQ(dsvl_detokenize(model, ids.data(), n, &text), DSVL_OK) << dsvl_last_error();
  EXPECT_STREQ(text, "Hello world");
  dsvl_string_free(text);

  dsvl_model_info info;
  ASSERT_EQ(dsvl_model_get_info(model, &info), DSVL_OK);
  EXPECT_EQ(info.family, 2);
  EXPECT_GT(info.vocab_size, 0);
  dsvl_model_free(model);
}

TEST(CApi, MisuseGivesStatusesWithMessages) {
  dsvl_model* m = nullptr;
  EXPECT_EQ(dsvl_model_load(nullptr, &m), DSVL_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dsvl_last_error()).find("dir"), std::string::npos);
  dsvl_model_params p;
  dsvl_model_params_init(&p);
  EXPECT_EQ(dsvl_model_load(&p, nullptr), DSVL_ERR_INVALID_ARGUMENT);
  p.dir = "/nonexistent/dsvl/model";
  EXPECT_NE(dsvl_model_load(&p, &m), DSVL_OK);
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(dsvl_last_error()).find("/nonexistent/dsvl/model"), std::string::npos) << dsvl_last_error();
  p.dir = kVl2.c_str();
  p.kv_type = "f8";
  EXPECT_EQ(dsvl_model_load(&p, &m), DSVL_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dsvl_last_error()).find("kv_type"), std::string::npos);
  dsvl_model_params zeroed{};  // never initialised: refused rather than read as all defaults
  zeroed.dir = kVl2.c_str();
  EXPECT_EQ(dsvl_model_load(&zeroed, &m), DSVL_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dsvl_last_error()).find("struct_size"), std::string::npos);

  dsvl_model* model = LoadOrDie(kVl2);
  ASSERT_NE(model, nullptr);
  dsvl_session* session = nullptr;
  ASSERT_EQ(dsvl_session_create(model, &session), DSVL_OK);
  dsvl_result* r = nullptr;
  dsvl_generate_params gp;
  dsvl_generate_params_init(&gp);
  dsvl_message no_role{nullptr, "hi", nullptr, 0};
  EXPECT_EQ(dsvl_session_generate(session, &no_role, 1, &gp, nullptr, nullptr, &r), DSVL_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(dsvl_last_error()).find("role"), std::string::npos);
  dsvl_image empty_image{nullptr, nullptr, 0};
  dsvl_message bad_image{"user", "hi", &empty_image, 1};
  EXPECT_EQ(dsvl_session_generate(session, &bad_image, 1, &gp, nullptr, nullptr, &r), DSVL_ERR_INVALID_ARGUMENT);
  const uint8_t garbage[4] = {1, 2, 3, 4};
  dsvl_image garbage_image{nullptr, garbage, sizeof garbage};
  dsvl_message garbage_msg{"user", "hi", &garbage_image, 1};
  EXPECT_NE(dsvl_session_generate(session, &garbage_msg, 1, &gp, nullptr, nullptr, &r), DSVL_OK);
  EXPECT_EQ(r, nullptr);
  gp.n_stop = 1;
  dsvl_message ok{"user", "hi", nullptr, 0};
  EXPECT_EQ(dsvl_session_generate(session, &ok, 1, &gp, nullptr, nullptr, &r), DSVL_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(dsvl_status_name(DSVL_ERR_LIMIT_EXCEEDED), "limit_exceeded");
  // Freeing NULL is a no-op, as free() is.
  dsvl_result_free(nullptr);
  dsvl_session_free(nullptr);
  dsvl_model_free(nullptr);
  dsvl_session_free(session);
  dsvl_model_free(model);
}

}  // namespace
