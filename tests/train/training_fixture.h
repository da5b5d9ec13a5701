// What the tests against the official training fixtures (tests/data/fixtures/training, see its
// README) share: paths, loading, and the comparison every gradient check uses.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "npy.h"

namespace dsvl::train::test_fixture {

namespace fs = std::filesystem;

// tests/data/fixtures/training/<name>: "v1_siglip" or "vl2_tiny".
inline fs::path TrainingDir(const std::string& name) { return fs::path(test::FixtureDir()) / "training" / name; }

inline nlohmann::json ReadJson(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

inline std::vector<float> LoadF32(const fs::path& p) { return test::LoadNpy(p.string()).f32(); }

// An example's token ids, (unshifted) labels and image positions: examples/exN/*.npy.
struct ExampleTokens {
  std::vector<int64_t> ids, labels;
  std::vector<bool> image_row;
};
inline ExampleTokens LoadExampleTokens(const fs::path& dir) {
  ExampleTokens e;
  e.ids = test::LoadNpy((dir / "input_ids.npy").string()).i64();
  e.labels = test::LoadNpy((dir / "labels.npy").string()).i64();
  for (int64_t m : test::LoadNpy((dir / "images_seq_mask.npy").string()).i64()) e.image_row.push_back(m != 0);
  return e;
}

inline double MaxAbs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

// Checks max |ours - official| <= rel · max |official| and returns that ratio (for reporting the
// worst case), or +inf when the sizes differ.
inline double ExpectClose(const std::vector<float>& ours, const std::vector<float>& official, double rel,
                          const std::string& what) {
  EXPECT_EQ(ours.size(), official.size()) << what;
  if (ours.size() != official.size()) return INFINITY;
  double diff = 0;
  for (size_t i = 0; i < ours.size(); ++i) diff = std::max(diff, static_cast<double>(std::fabs(ours[i] - official[i])));
  const double scale = std::max(MaxAbs(official), 1e-30);
  EXPECT_LE(diff, rel * scale) << what << ": max diff " << diff << " of max |official| " << scale;
  return diff / scale;
}

}  // namespace dsvl::train::test_fixture
