#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include <opencv2/core.hpp>

#include "core/config.h"
#include "data/augment.h"
#include "data/sampler.h"

namespace ms {
namespace {

// Class 0: 2500 items (capped), class 1: 400 (kept as is), class 2: 30 (oversampled),
// class 3 absent, class 4: 7.
std::vector<int> labels() {
  std::vector<int> l;
  for (int i = 0; i < 2500; ++i) l.push_back(0);
  for (int i = 0; i < 30; ++i) l.push_back(2);
  for (int i = 0; i < 400; ++i) l.push_back(1);
  for (int i = 0; i < 7; ++i) l.push_back(4);
  return l;
}

ClassBalancedSampler make(const BalancedSamplerOptions& o, std::uint64_t seed = 1) {
  return value_or_throw(ClassBalancedSampler::create(labels(), o, seed));
}

TEST(ClassBalancedSampler, CapsLargeClassesAndOversamplesSmallOnes) {
  const auto l = labels();
  const auto s = make({1000, 300, 0.f});
  const auto draws = s.epoch(0);
  std::map<int, std::size_t> plain, extra;
  std::map<std::size_t, int> copies;
  for (const auto& d : draws) {
    ASSERT_LT(d.index, l.size());
    (d.augment ? extra : plain)[l[d.index]]++;
    copies[d.index]++;
  }
  EXPECT_EQ(plain[0], 1000u);
  EXPECT_EQ(extra[0], 0u);
  EXPECT_EQ(plain[1], 400u);  // between target and cap: every item once, untouched
  EXPECT_EQ(extra[1], 0u);
  EXPECT_EQ(plain[2], 30u);  // every minority original once...
  EXPECT_EQ(extra[2], 270u); // ...plus augmented copies up to the target
  EXPECT_EQ(plain[4] + extra[4], 300u);
  EXPECT_EQ(draws.size(), s.epoch_size());
  EXPECT_EQ(s.per_class_counts(), (std::vector<std::size_t>{1000, 400, 300, 0, 300}));
  // Capped items are distinct; minority copies spread evenly (300/30 = 10 each, 300/7 = 42 or 43).
  for (const auto& [index, n] : copies) {
    if (l[index] == 0) {
      EXPECT_EQ(n, 1) << index;
    } else if (l[index] == 2) {
      EXPECT_EQ(n, 10) << index;
    } else if (l[index] == 4) {
      EXPECT_TRUE(n == 42 || n == 43) << index << ": " << n;
    }
  }
}

TEST(ClassBalancedSampler, CappedClassesCycleThroughEveryItem) {
  const auto l = labels();
  const auto s = make({1000, 0, 0.f});
  std::set<std::size_t> seen;
  for (std::uint64_t e = 0; e < 3; ++e)  // ceil(2500 / 1000) = 3 epochs per cycle
    for (const auto& d : s.epoch(e))
      if (l[d.index] == 0) seen.insert(d.index);
  EXPECT_EQ(seen.size(), 2500u);
  // And epochs differ in which items they take.
  std::set<std::size_t> e0, e1;
  for (const auto& d : s.epoch(0)) e0.insert(d.index);
  for (const auto& d : s.epoch(1)) e1.insert(d.index);
  EXPECT_NE(e0, e1);
}

TEST(ClassBalancedSampler, SeededPerEpoch) {
  const BalancedSamplerOptions o{1000, 200, 0.f};
  EXPECT_EQ(make(o, 5).epoch(3), make(o, 5).epoch(3));
  EXPECT_NE(make(o, 5).epoch(3), make(o, 6).epoch(3));
  EXPECT_NE(make(o, 5).epoch(3), make(o, 5).epoch(4));
  // The list is shuffled, not grouped by class.
  const auto l = labels();
  const auto d = make(o, 5).epoch(0);
  int changes = 0;
  for (std::size_t i = 1; i < d.size(); ++i) changes += l[d[i].index] != l[d[i - 1].index];
  EXPECT_GT(changes, 100);
}

TEST(ClassBalancedSampler, MaxOversampleLimitsGrowthAndZeroDisablesLimits) {
  const auto s = make({1000, 300, 8.f});
  const auto counts = s.per_class_counts();
  EXPECT_EQ(counts[2], 240u);  // 30 * 8
  EXPECT_EQ(counts[4], 56u);   // 7 * 8
  const auto all = make({0, 0, 0.f});
  EXPECT_EQ(all.per_class_counts(), (std::vector<std::size_t>{2500, 400, 30, 0, 7}));
  for (const auto& d : all.epoch(0)) EXPECT_FALSE(d.augment);
}

TEST(ClassBalancedSampler, BadInputsNameTheProblem) {
  auto r = ClassBalancedSampler::create({0, -1}, {}, 1, "train.txt");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("train.txt[1]"), std::string::npos) << r.error().message;
  r = ClassBalancedSampler::create({0, 1}, {100, 200, 0.f}, 1, "train.txt");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find(".target"), std::string::npos) << r.error().message;
  EXPECT_FALSE(ClassBalancedSampler::create({0}, {-1, 0, 0.f}, 1).has_value());
  EXPECT_FALSE(ClassBalancedSampler::create({0}, {10, 5, 0.5f}, 1).has_value());
  const auto empty = value_or_throw(ClassBalancedSampler::create({}, {}, 1));
  EXPECT_TRUE(empty.epoch(0).empty());
}

TEST(ClassBalancedSampler, OptionsReadFromJson) {
  const auto o = config_from_json<BalancedSamplerOptions>(Json::parse(R"({"cap": 50, "target": 20})"));
  EXPECT_EQ(o.cap, 50);
  EXPECT_EQ(o.target, 20);
  EXPECT_FLOAT_EQ(o.max_oversample, 0.f);
}

TEST(DihedralAugment, CoversTheSevenNonIdentitySymmetries) {
  // A 2x2 image with four distinct pixels: the 8 symmetries of the square give 8 distinct images.
  AugmentSample s;
  s.image = cv::Mat(2, 2, CV_8UC3);
  s.image.at<cv::Vec3b>(0, 0) = {10, 0, 0};
  s.image.at<cv::Vec3b>(0, 1) = {20, 0, 0};
  s.image.at<cv::Vec3b>(1, 0) = {30, 0, 0};
  s.image.at<cv::Vec3b>(1, 1) = {40, 0, 0};
  s.boxes = {{0, 0, 1, 1}};
  s.labels = {3};
  auto key = [](const cv::Mat& m) {
    std::vector<int> k;
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 2; ++x) k.push_back(m.at<cv::Vec3b>(y, x)[0]);
    return k;
  };
  std::mt19937 rng(4);
  std::set<std::vector<int>> seen;
  for (int i = 0; i < 200; ++i) {
    const AugmentSample a = dihedral_augment(s, rng);
    ASSERT_EQ(a.boxes.size(), 1u);
    EXPECT_EQ(a.labels, s.labels);
    // The box still covers the pixel that was (0,0).
    const Box& b = a.boxes[0];
    EXPECT_EQ(a.image.at<cv::Vec3b>(int(b.y1), int(b.x1))[0], 10);
    seen.insert(key(a.image));
  }
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_EQ(seen.count(key(s.image)), 0u);
}

}  // namespace
}  // namespace ms
