#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/config.h"

namespace ms {
namespace {

enum class Assigner { kMaxIou, kAtss, kOta };
const std::vector<std::pair<Assigner, std::string>>& enum_names(Assigner) {
  static const std::vector<std::pair<Assigner, std::string>> names{
      {Assigner::kMaxIou, "max_iou"}, {Assigner::kAtss, "atss"}, {Assigner::kOta, "ota"}};
  return names;
}

struct NeckOptions {
  int channels = 256;
  std::vector<int> levels{3, 4, 5, 6, 7};
  bool path_aggregation = false;
  template <class V>
  void visit(V& v) {
    v("channels", channels);
    v("levels", levels);
    v("path_aggregation", path_aggregation);
  }
};

struct DetectorConfig {
  std::string name = "retinanet";
  float lr = 0.01f;
  Assigner assigner = Assigner::kMaxIou;
  NeckOptions neck;
  std::optional<int> seed;
  std::map<std::string, float> class_weights;
  std::vector<NeckOptions> extra_necks;
  template <class V>
  void visit(V& v) {
    v("name", name);
    v("lr", lr);
    v("assigner", assigner);
    v("neck", neck);
    v("seed", seed);
    v("class_weights", class_weights);
    v("extra_necks", extra_necks);
  }
};

std::string message_of(const Json& j) {
  auto r = parse_config<DetectorConfig>(j, "det.json");
  EXPECT_FALSE(r.has_value());
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  return r.error().message;
}

TEST(Config, DefaultsWhenEmpty) {
  const auto c = config_from_json<DetectorConfig>(Json::object());
  EXPECT_EQ(c.name, "retinanet");
  EXPECT_FLOAT_EQ(c.lr, 0.01f);
  EXPECT_EQ(c.assigner, Assigner::kMaxIou);
  EXPECT_EQ(c.neck.levels, (std::vector<int>{3, 4, 5, 6, 7}));
  EXPECT_FALSE(c.seed.has_value());
}

TEST(Config, PresentKeysOverrideOthersKeepDefaults) {
  const auto c = config_from_json<DetectorConfig>(Json::parse(
      R"({"lr": 0.5, "assigner": "atss", "neck": {"levels": [2, 3]}, "seed": 7,
          "class_weights": {"blast": 2.5}, "extra_necks": [{"channels": 64}]})"));
  EXPECT_FLOAT_EQ(c.lr, 0.5f);
  EXPECT_EQ(c.assigner, Assigner::kAtss);
  EXPECT_EQ(c.neck.levels, (std::vector<int>{2, 3}));
  EXPECT_EQ(c.neck.channels, 256);  // sibling default kept
  EXPECT_EQ(c.seed, 7);
  EXPECT_FLOAT_EQ(c.class_weights.at("blast"), 2.5f);
  ASSERT_EQ(c.extra_necks.size(), 1u);
  EXPECT_EQ(c.extra_necks[0].channels, 64);
  EXPECT_EQ(c.extra_necks[0].levels.size(), 5u);
  // An integer is a valid float; null resets an optional.
  EXPECT_FLOAT_EQ(config_from_json<DetectorConfig>(Json::parse(R"({"lr": 1})")).lr, 1.f);
  EXPECT_FALSE(config_from_json<DetectorConfig>(Json::parse(R"({"seed": null})")).seed.has_value());
}

TEST(Config, UnknownKeyNamesItsJsonPath) {
  const std::string m = message_of(Json::parse(R"({"neck": {"levelz": [1]}})"));
  EXPECT_NE(m.find("det.json:$.neck.levelz"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown key"), std::string::npos) << m;
  EXPECT_NE(m.find("levels"), std::string::npos) << m;  // lists the known keys
  const std::string m2 = message_of(Json::parse(R"({"extra_necks": [{}, {"chanels": 1}]})"));
  EXPECT_NE(m2.find("$.extra_necks[1].chanels"), std::string::npos) << m2;
  EXPECT_THROW(config_from_json<DetectorConfig>(Json::parse(R"({"x": 1})")), MarrowError);
}

TEST(Config, WrongTypeSaysExpectedAndFound) {
  const std::string m = message_of(Json::parse(R"({"neck": {"levels": [3, 4, "5"]}})"));
  EXPECT_NE(m.find("$.neck.levels[2]: expected integer, found string"), std::string::npos) << m;
  EXPECT_NE(message_of(Json::parse(R"({"lr": "fast"})")).find("$.lr: expected number, found string"),
            std::string::npos);
  EXPECT_NE(message_of(Json::parse(R"({"neck": 3})")).find("$.neck: expected object, found integer"),
            std::string::npos);
  EXPECT_NE(message_of(Json::parse(R"({"neck": {"channels": 2.5}})")).find("expected integer, found number"),
            std::string::npos);
  EXPECT_NE(message_of(Json::parse(R"({"neck": {"path_aggregation": 1}})")).find("expected boolean"),
            std::string::npos);
  EXPECT_NE(message_of(Json::parse("[1]")).find("det.json:$: expected object, found array"),
            std::string::npos);
}

TEST(Config, EnumsReadAndWriteByName) {
  const std::string m = message_of(Json::parse(R"({"assigner": "paa"})"));
  EXPECT_NE(m.find("$.assigner: expected one of max_iou|atss|ota, found \"paa\""), std::string::npos) << m;
  EXPECT_NE(message_of(Json::parse(R"({"assigner": 1})")).find("expected string"), std::string::npos);
  DetectorConfig c;
  c.assigner = Assigner::kOta;
  EXPECT_EQ(config_to_json(c)["assigner"], "ota");
}

TEST(Config, OverridesParseJsonValuesOrFallBackToStrings) {
  Json j = Json::object();
  ASSERT_TRUE(apply_override(j, "neck.channels=128"));
  ASSERT_TRUE(apply_override(j, "neck.levels=[2,3,4]"));
  ASSERT_TRUE(apply_override(j, "neck.path_aggregation=true"));
  ASSERT_TRUE(apply_override(j, "name=retina=v2"));  // only the first '=' splits
  ASSERT_TRUE(apply_override(j, "class_weights={\"blast\": 3}"));
  ASSERT_TRUE(apply_override(j, "assigner=ota"));  // not JSON: a string
  ASSERT_TRUE(apply_override(j, "lr=1e-3"));
  const auto c = config_from_json<DetectorConfig>(j);
  EXPECT_EQ(c.neck.channels, 128);
  EXPECT_EQ(c.neck.levels, (std::vector<int>{2, 3, 4}));
  EXPECT_TRUE(c.neck.path_aggregation);
  EXPECT_EQ(c.name, "retina=v2");
  EXPECT_FLOAT_EQ(c.class_weights.at("blast"), 3.f);
  EXPECT_EQ(c.assigner, Assigner::kOta);
  EXPECT_FLOAT_EQ(c.lr, 1e-3f);
  // A later override replaces an earlier one.
  ASSERT_TRUE(apply_override(j, "neck.channels=64"));
  EXPECT_EQ(j["neck"]["channels"], 64);
}

TEST(Config, BadOverridesAreErrors) {
  Json j = Json::parse(R"({"lr": 0.1})");
  for (const char* bad : {"lr", "=3", "neck..channels=1", "lr.x=2", ".lr=1"}) {
    SCOPED_TRACE(bad);
    auto s = apply_override(j, bad);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message.find(std::string("--set ") + bad), std::string::npos) << s.error().message;
  }
  EXPECT_EQ(j, Json::parse(R"({"lr": 0.1})"));  // failed overrides leave j alone
}

TEST(Config, WriteBackAndReadEquals) {
  DetectorConfig c;
  c.lr = 0.125f;
  c.assigner = Assigner::kAtss;
  c.neck.levels = {2, 3, 4, 5, 6};
  c.seed = 11;
  c.class_weights = {{"blast", 1.5f}, {"lymphocyte", 0.5f}};
  c.extra_necks = {NeckOptions{}, NeckOptions{}};
  c.extra_necks[1].channels = 32;
  const Json j = config_to_json(c);
  const auto back = config_from_json<DetectorConfig>(j);
  EXPECT_EQ(config_to_json(back), j);
  EXPECT_EQ(back.seed, 11);
  EXPECT_EQ(back.extra_necks[1].channels, 32);

  const auto dir = std::filesystem::temp_directory_path() / ("ms_config_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "merged.json").string();
  ASSERT_TRUE(write_json_file(path, j));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  auto loaded = load_config<DetectorConfig>(path, {"neck.channels=96"});
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message;
  EXPECT_EQ(loaded->neck.channels, 96);
  EXPECT_FLOAT_EQ(loaded->lr, 0.125f);
  EXPECT_EQ(loaded->class_weights.size(), 2u);
  std::filesystem::remove_all(dir);
}

TEST(Config, LoadConfigErrorsNameTheFile) {
  auto missing = load_config<DetectorConfig>("/nonexistent/det.json");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("/nonexistent/det.json"), std::string::npos);

  const auto dir = std::filesystem::temp_directory_path() / ("ms_config_bad_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "bad.json").string();
  std::ofstream(path) << "{\"lr\": 0.1,\n \"neck\": }";
  auto bad = load_config<DetectorConfig>(path);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find(path + ": expected valid JSON"), std::string::npos) << bad.error().message;
  EXPECT_NE(bad.error().message.find("byte"), std::string::npos);

  std::ofstream(path) << R"({"neck": {"levels": "all"}})";
  auto typed = load_config<DetectorConfig>(path);
  ASSERT_FALSE(typed.has_value());
  EXPECT_NE(typed.error().message.find(path + ":$.neck.levels: expected array"), std::string::npos)
      << typed.error().message;
  // Defaults with overrides only (no file).
  auto defaults = load_config<DetectorConfig>("", {"assigner=ota"});
  ASSERT_TRUE(defaults.has_value());
  EXPECT_EQ(defaults->assigner, Assigner::kOta);
  auto wrong = load_config<DetectorConfig>("", {"neck.nope=1"});
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(wrong.error().message.find("$.neck.nope"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Config, IntegersOutOfRangeAreErrorsNotWraps) {
  const std::string m = message_of(Json::parse(R"({"neck": {"channels": 4294967296}})"));
  EXPECT_NE(m.find("$.neck.channels"), std::string::npos) << m;
  EXPECT_NE(message_of(Json::parse(R"({"seed": -3000000000})")).find("$.seed"), std::string::npos);
  EXPECT_NE(message_of(Json::parse(R"({"lr": 1e300})")).find("$.lr: expected a number within float range"),
            std::string::npos);
  // The limits themselves are fine.
  EXPECT_EQ(config_from_json<NeckOptions>(Json::parse(R"({"channels": 2147483647})")).channels, 2147483647);
  EXPECT_EQ(config_from_json<NeckOptions>(Json::parse(R"({"channels": -2147483648})")).channels, -2147483647 - 1);
}

TEST(Config, NestingDeeperThanTheLimitIsRefusedBeforeParsing) {
  // 128 levels parse; 129 are refused with the byte where the limit broke; brackets inside
  // strings do not count. Copying or printing 200k levels would overflow the stack.
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_TRUE(parse_json(nested(128), "ok.json"));
  auto deep = parse_json(nested(129), "deep.json");
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(deep.error().message,
            "deep.json: expected JSON nested at most 128 levels deep, found deeper nesting at byte 128");
  EXPECT_TRUE(parse_json("{\"a\": \"" + std::string(300, '[') + "\\\"[\"}", "strings.json"));
  EXPECT_FALSE(parse_json(nested(200000), "bomb.json"));
}

TEST(Config, NumbersBeyondDoubleRangeAreErrorsNotExceptions) {
  // nlohmann throws out_of_range (not parse_error) for 1e400; neither may escape.
  auto big = parse_json(R"({"x": 2e308})", "big.json");
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(big.error().message.rfind("big.json: expected valid JSON, found ", 0), 0u) << big.error().message;
  EXPECT_NE(big.error().message.find("number overflow"), std::string::npos) << big.error().message;
  Json j = Json::object();
  ASSERT_TRUE(apply_override(j, "neck.scale=1e400"));
  EXPECT_EQ(j["neck"]["scale"], "1e400");
}

}  // namespace
}  // namespace ms
