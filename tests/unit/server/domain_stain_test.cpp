// What differs in a sample's stain, in words: each tolerance on its own side of the line.
#include <gtest/gtest.h>

#include "server/domain_stain.h"

namespace ms::server {
namespace {

StainStandardisation reference() {
  StainStandardisation r;
  r.background = {1.0f, 0.9f, 0.8f};
  r.od_p99 = {1.3f, 2.2f, 0.5f};
  return r;
}

StainMeasure measure(float bg_blue, float od_red) {
  StainMeasure m{};
  m.background[0] = 1.0f;
  m.background[1] = 0.9f;
  m.background[2] = bg_blue;
  m.od_quantile[0] = od_red;
  m.od_quantile[1] = 2.2f;
  m.od_quantile[2] = 0.5f;
  return m;
}

TEST(StainDifferences, AlikeSaysNothing) {
  EXPECT_TRUE(stain_differences(measure(0.8f, 1.3f), reference()).empty());
  // Inside both tolerances: 7% bluer background, nuclei 1.45x as dense in red.
  EXPECT_TRUE(stain_differences(measure(0.856f, 1.885f), reference()).empty());
}

TEST(StainDifferences, NamesTheChannelAndBothLanguages) {
  const auto bg = stain_differences(measure(0.6f, 1.3f), reference());
  ASSERT_EQ(bg.size(), 1u);
  EXPECT_NE(bg[0].en.find("background colour differs"), std::string::npos) << bg[0].en;
  EXPECT_NE(bg[0].en.find("blue -25%"), std::string::npos) << bg[0].en;
  EXPECT_NE(bg[0].en.find("RGB (255, 230, 153) against (255, 230, 204)"), std::string::npos) << bg[0].en;
  EXPECT_NE(bg[0].zh.find("背景颜色"), std::string::npos);
  const auto od = stain_differences(measure(0.8f, 0.65f), reference());
  ASSERT_EQ(od.size(), 1u);
  EXPECT_NE(od[0].en.find("nuclear stain differs"), std::string::npos) << od[0].en;
  EXPECT_NE(od[0].en.find("red x0.50"), std::string::npos) << od[0].en;
  EXPECT_NE(od[0].zh.find("细胞核染色"), std::string::npos);
  EXPECT_EQ(stain_differences(measure(0.6f, 2.0f), reference()).size(), 2u);
}

TEST(StainDifferences, TolerancesAreSettings) {
  StainTolerance strict;
  strict.background = 0.01;
  strict.od_ratio = 1.05;
  EXPECT_EQ(stain_differences(measure(0.856f, 1.885f), reference(), strict).size(), 2u);
}

TEST(SampleStain, JsonRoundsAndListsTheEnglishDifferences) {
  SampleStain s;
  s.cells = 12;
  s.median = measure(0.6f, 1.3f);
  s.reference = reference();
  s.differences = stain_differences(s.median, s.reference);
  const Json j = s.to_json();
  EXPECT_EQ(j["cells"], 12);
  EXPECT_EQ(j["background"][2], 0.6);
  EXPECT_EQ(j["reference_nuclear_od"][1], 2.2);
  ASSERT_EQ(j["differences"].size(), 1u);
  EXPECT_EQ(j["differences"][0], s.differences[0].en);
}

}  // namespace
}  // namespace ms::server
