// JSON Schema from visit() lists, and the validator the server tests check answers with.
#include <algorithm>

#include <gtest/gtest.h>

#include "core/json_schema.h"

namespace ms {
namespace {

enum class Colour { kRed, kBlue };
const std::vector<std::pair<Colour, std::string>>& enum_names(Colour) {
  static const std::vector<std::pair<Colour, std::string>> n = {{Colour::kRed, "red"}, {Colour::kBlue, "blue"}};
  return n;
}

struct Inner {
  int n = 0;
  template <class V>
  void visit(V& v) { v("n", n); }
};

struct Probe {
  std::int64_t id = 0;
  std::string name;
  std::optional<double> score;
  Colour colour = Colour::kRed;
  std::vector<Inner> parts;
  std::map<std::string, bool> flags;
  template <class V>
  void visit(V& v) {
    v("id", id); v("name", name); v("score", score); v("colour", colour); v("parts", parts); v("flags", flags);
  }
};

TEST(JsonSchema, WrittenSchemaListsEveryFieldAsRequired) {
  const Json s = written_schema<Probe>();
  EXPECT_EQ(s["type"], "object");
  EXPECT_EQ(s["additionalProperties"], false);
  EXPECT_EQ(s["required"], Json::array({"id", "name", "score", "colour", "parts", "flags"}));
  EXPECT_EQ(s["properties"]["id"], Json({{"type", "integer"}}));
  EXPECT_EQ(s["properties"]["score"]["type"], Json::array({"number", "null"}));
  EXPECT_EQ(s["properties"]["colour"]["enum"], Json::array({"red", "blue"}));
  EXPECT_EQ(s["properties"]["parts"]["items"]["properties"]["n"]["maximum"], 2147483647);
  EXPECT_EQ(s["properties"]["flags"]["additionalProperties"]["type"], "boolean");
}

TEST(JsonSchema, ReadSchemaRequiresNothingAndRefusesUnknownKeys) {
  const Json s = read_schema<Probe>();
  EXPECT_FALSE(s.contains("required"));
  EXPECT_TRUE(validate_json(s, Json::object(), s).empty());
  const auto errors = validate_json(s, {{"nmae", "x"}}, s);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "$.nmae: key not in the schema");
}

TEST(JsonSchema, WhatConfigToJsonWritesFitsItsSchema) {
  Probe p;
  p.parts = {{3}, {4}};
  p.flags = {{"a", true}};
  const Json s = written_schema<Probe>();
  EXPECT_TRUE(validate_json(s, config_to_json(p), s).empty());
  p.score = 0.5;
  EXPECT_TRUE(validate_json(s, config_to_json(p), s).empty());
}

TEST(JsonSchema, ValidatorNamesThePathOfEachProblem) {
  const Json s = written_schema<Probe>();
  Json j = config_to_json(Probe{});
  j["parts"] = Json::array({{{"n", "three"}}});
  j["colour"] = "green";
  j.erase("name");
  const auto errors = validate_json(s, j, s);
  ASSERT_EQ(errors.size(), 3u) << ::testing::PrintToString(errors);
  EXPECT_NE(std::find(errors.begin(), errors.end(), "$.parts[0].n: expected integer, found string"), errors.end());
  EXPECT_NE(std::find(errors.begin(), errors.end(), "$: missing required key 'name'"), errors.end());
  EXPECT_NE(std::find(errors.begin(), errors.end(), "$.colour: expected one of [\"red\",\"blue\"], found \"green\""),
            errors.end());
}

TEST(JsonSchema, ExtensionsAreAnnotationsAndUnknownKeywordsAreNot) {
  const Json ext = {{"type", "string"}, {"x-messages", {{"a", "b"}}}};
  EXPECT_TRUE(validate_json(ext, "s", ext).empty());
  EXPECT_EQ(validate_json(ext, 3, ext).size(), 1u) << "the schema's constraints still hold";
  const Json typo = {{"type", "string"}, {"maxLenght", 3}};
  const auto errors = validate_json(typo, "s", typo);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("'maxLenght' is not supported"), std::string::npos) << errors[0];
}

TEST(JsonSchema, ExclusiveBounds) {
  const Json s = {{"type", "number"}, {"exclusiveMinimum", 0}, {"exclusiveMaximum", 50}};
  EXPECT_TRUE(validate_json(s, 0.001, s).empty());
  EXPECT_TRUE(validate_json(s, 49.9, s).empty());
  EXPECT_EQ(validate_json(s, 0, s).size(), 1u);
  EXPECT_EQ(validate_json(s, 50, s).size(), 1u);
  EXPECT_EQ(validate_json(s, -1, s).size(), 1u);
}

TEST(JsonSchema, RefsBoundsAndBranches) {
  const Json root = {{"components", {{"schemas", {{"Small", {{"type", "integer"}, {"minimum", 1}, {"maximum", 3}}}}}}}};
  const Json ref = {{"$ref", "#/components/schemas/Small"}};
  EXPECT_TRUE(validate_json(ref, 2, root).empty());
  EXPECT_EQ(validate_json(ref, 4, root), std::vector<std::string>{"$: maximum 3, found 4"});
  EXPECT_FALSE(validate_json({{"$ref", "#/components/schemas/Gone"}}, 1, root).empty());
  const Json either = {{"oneOf", Json::array({{{"type", "string"}}, {{"type", "integer"}}})}};
  EXPECT_TRUE(validate_json(either, 1, root).empty());
  EXPECT_FALSE(validate_json(either, true, root).empty());
  EXPECT_TRUE(validate_json(nullable(ref), nullptr, root).empty());
  EXPECT_EQ(validate_json({{"maxLength", 2}}, "\xE4\xB8\xAD\xE6\x96\x87", root).size(), 0u) << "two characters, six bytes";
  EXPECT_EQ(validate_json({{"unknownKeyword", 1}}, 1, root).size(), 1u) << "an unsupported keyword never passes silently";
}

}  // namespace
}  // namespace ms
