// Image encoding and other sessions' decode steps share the model (pool, scratch) through its
// mutex; between the towers' units (blocks, necks, convs) the encode lends the model to waiting
// steps (StepScheduler::YieldModel), so another session keeps streaming tokens DURING an encode.
//
// Deterministic: session A decodes; session B encodes an image. At each of B's yield points an
// observer (called with the model held) waits until A's next pass is queued, then records the step
// count and A's token count. Each yield must then have run A's pass before the next yield point:
// with the old whole-encode lock neither count moves between the first and the last yield point
// (and nothing deadlocks: A's pass simply waits). Both sessions still get bitwise what they get
// alone (ids and log-probabilities).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dsvl/dsvl.h"
#include "model/engine.h"
#include "npy.h"
#include "same_logprobs.h"

namespace dsvl {
namespace {

namespace fs = std::filesystem;
constexpr auto kPatience = std::chrono::seconds(30);  // only reached when something is broken

GenerateRequest Request(const ModelInfo& info, bool with_image, int64_t max_new_tokens) {
  GenerateRequest r;
  r.prompt_ids = {info.bos_id, 7, 8, 9};
  if (with_image) {
    r.prompt_ids.insert(r.prompt_ids.begin() + 2, info.image_token_id);
    r.images.push_back(ImageInput::FromPath((fs::path(test::FixtureDir()) / "images" / "A_640x480.jpg").string()));
  }
  r.max_new_tokens = max_new_tokens;
  r.ignore_eos = true;
  r.logprobs = 2;
  return r;
}

GenerateResult Alone(const std::shared_ptr<Model>& model, const GenerateRequest& r) {
  std::unique_ptr<Session> session;
  EXPECT_TRUE(Session::Create(model, &session).ok());
  GenerateResult out;
  const Status s = session->Generate(r, &out);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

class EncodeInterleave : public ::testing::TestWithParam<std::string> {};

TEST_P(EncodeInterleave, OtherSessionsDecodeWhileAnImageEncodes) {
  ModelOptions mo;
  mo.dir = (fs::path(test::FixtureDir()) / GetParam() / "ckpt").string();
  mo.threads = 2;
  std::shared_ptr<Model> model;
  const Status loaded = Model::Load(mo, &model);
  ASSERT_TRUE(loaded.ok()) << loaded.ToString();
  ModelImpl& impl = model->impl();
  StepScheduler& steps = impl.scheduler();

  std::mutex mu;
  std::condition_variable cv;
  bool encode_started = false;
  std::atomic<bool> armed{false}, b_done{false}, gave_up{false};
  std::atomic<int64_t> a_tokens{0};
  struct Seen {
    int64_t steps, a_tokens;
  };
  std::vector<Seen> seen;  // one per yield point of B's encode (B's thread only)
  impl.set_encode_yield_observer([&] {
    if (!armed) return;
    {
      std::lock_guard<std::mutex> lk(mu);
      encode_started = true;
    }
    cv.notify_all();
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (steps.queued() == 0) {  // A's next pass
      if (std::chrono::steady_clock::now() > deadline) {
        gave_up = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    seen.push_back({steps.stats().steps, a_tokens.load()});
  });

  const GenerateRequest b_request = Request(model->info(), true, 4);
  const GenerateResult b_alone = Alone(model, b_request);
  ASSERT_EQ(b_alone.ids.size(), 4u);

  // A decodes (from its first token on, only once B's encode has begun) until B is done.
  armed = true;
  GenerateResult a_got, b_got;
  Status a_status, b_status;
  std::thread a([&] {
    std::unique_ptr<Session> session;
    a_status = Session::Create(model, &session);
    if (!a_status.ok()) return;
    a_status = session->Generate(Request(model->info(), false, 1000), &a_got, [&](int64_t, std::string_view) {
      std::unique_lock<std::mutex> lk(mu);
      if (!cv.wait_for(lk, kPatience, [&] { return encode_started; })) gave_up = true;
      ++a_tokens;
      return !b_done.load();
    });
  });
  std::thread b([&] {
    std::unique_ptr<Session> session;
    b_status = Session::Create(model, &session);
    if (b_status.ok()) b_status = session->Generate(b_request, &b_got);
    b_done = true;
  });
  b.join();
  a.join();
  armed = false;
  ASSERT_TRUE(a_status.ok()) << a_status.ToString();
  ASSERT_TRUE(b_status.ok()) << b_status.ToString();
  ASSERT_FALSE(gave_up.load()) << "A's pass never came (or B's encode never began)";

  std::printf("yield points %zu, A tokens %zu, B encode %.0f ms\n", seen.size(), a_got.ids.size(), b_got.timings.image_encode_ms);
  // Every yield point lent the model to A's queued pass: at least one step, and one token of A,
  // between consecutive yield points.
  ASSERT_GE(seen.size(), 5u);
  const int64_t lent = static_cast<int64_t>(seen.size()) - 1;
  EXPECT_GE(seen.back().steps - seen.front().steps, lent) << "decode steps did not run during the encode";
  EXPECT_GE(seen.back().a_tokens - seen.front().a_tokens, lent) << "A's stream stalled during the encode";
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i].steps, seen[i - 1].steps) << "yield point " << i;

  // Bitwise what each gets alone.
  EXPECT_EQ(b_got.ids, b_alone.ids);
  EXPECT_TRUE(test::SameLogprobs(b_got.logprobs, b_alone.logprobs));
  ASSERT_GE(a_got.ids.size(), seen.size());
  const GenerateResult a_alone =
      Alone(model, Request(model->info(), false, static_cast<int64_t>(a_got.ids.size())));
  EXPECT_EQ(a_got.ids, a_alone.ids);
  EXPECT_TRUE(test::SameLogprobs(a_got.logprobs, a_alone.logprobs));
}

// v1_hybrid: SAM-B + SigLIP yield points; vl2_tiny: the batched SigLIP over VL2 tiles.
INSTANTIATE_TEST_SUITE_P(Fixtures, EncodeInterleave, ::testing::Values("v1_hybrid", "vl2_tiny"));

}  // namespace
}  // namespace dsvl
