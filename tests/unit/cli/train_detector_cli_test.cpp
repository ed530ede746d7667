// `marrowscope train-detector --init` on a lab's reviewed fields as the server's labelme training
// export writes them, with replay of the original fields, then `eval-detector` on fields kept
// out: the real binary, real files, a tiny RetinaNet.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/config.h"
#include "data/formats/formats.h"
#include "unit/cli/run_cli.h"
#include "unit/data/formats/format_fixture.h"
#include "unit/engine/detector/disc_fields.h"

namespace ms {
namespace {

using testing::run_cli;
using testing::ScratchDir;
namespace fs = std::filesystem;

// The fields as a lab's export: the red discs under a cell-type name, the first of each field
// left undecided, a removed corner box; the blue discs are on the fields, unlabelled.
FieldDataset as_export(const FieldDataset& fields) {
  FieldDataset out;
  out.classes = {"neutrophil", "not_a_cell", "unreviewed"};
  for (const auto& f : fields.fields) {
    Field g = f;
    g.boxes.clear();
    for (const auto& b : f.boxes)
      if (b.class_id == 0) g.boxes.push_back({b.box, g.boxes.empty() ? 2 : 0, 1.f});
    g.boxes.push_back({Box{0.f, 0.f, 9.f, 9.f}, 1, 1.f});
    out.fields.push_back(g);
  }
  return out;
}

TEST(CliTrainDetector, FineTunesFromAnExportWithReplayAndEvaluatesWhatItFinds) {
  ScratchDir tmp;
  const fs::path root = tmp.path();
  const FieldDataset original = testing::disc_fields((root / "original").string(), 32, 7);
  const FieldDataset lab = testing::disc_fields((root / "lab").string(), 16, 9);
  ASSERT_TRUE(write_coco(original, (root / "original.json").string()));
  FieldDataset corrected = lab, heldback = lab;
  corrected.fields.resize(8);
  heldback.fields.erase(heldback.fields.begin(), heldback.fields.begin() + 8);
  ASSERT_TRUE(write_labelme(as_export(corrected), (root / "export").string()));
  ASSERT_TRUE(write_labelme(as_export(heldback), (root / "heldback").string()));

  const Json model = {{"classes", {"red", "blue"}},
                      {"input_size", 128},
                      {"backbone", {{"width", 0.25}}},
                      {"neck", {{"channels", 32}, {"min_level", 3}, {"max_level", 5}}},
                      {"head", {{"num_convs", 1}}}};
  const Json base_cfg = {{"model", model},
                         {"data", {{"format", "coco"}, {"train_split", ""}, {"val_split", ""}}},
                         {"optim", {{"epochs", 2}, {"batch_size", 8}, {"lr", 0.02}}},
                         {"log_every", 0}};
  ASSERT_TRUE(write_json_file((root / "base.json").string(), base_cfg));
  const std::string base = (root / "base").string();
  auto r = run_cli({"train-detector", "--config", (root / "base.json").string(), "--data",
                    (root / "original.json").string(), "--out", base});
  ASSERT_EQ(r.status, 0) << r.output;

  // The fine-tune's config names no model: --init brings the folder's (a different neck here
  // would be refused).
  const Json tune_cfg = {
      {"data",
       {{"format", "labelme"},
        {"train_split", ""},
        {"val_split", ""},
        {"class_map", "*=red"},
        {"annotated_classes", {"red"}},
        {"replay", {{"path", (root / "original.json").string()}, {"format", "coco"}, {"split", ""}, {"fields_per_epoch", 8}}}}},
      {"optim", {{"epochs", 2}, {"batch_size", 8}, {"lr", 0.01}}},
      {"log_every", 0}};
  ASSERT_TRUE(write_json_file((root / "tune.json").string(), tune_cfg));
  const std::string tune = (root / "tune").string();
  r = run_cli({"train-detector", "--init", base + "/model", "--config", (root / "tune.json").string(), "--data",
               (root / "export").string(), "--out", tune});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("initialised from " + base + "/model"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("replay: 32 original fields, 8 per epoch"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("preparing data: 8 training fields"), std::string::npos) << r.output;
  auto info = read_json_file(tune + "/model/model.json");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ((*info)["provenance"]["init_from"], base + "/model");
  EXPECT_NE((*info)["provenance"]["command"].get<std::string>().find("--init"), std::string::npos);
  EXPECT_EQ((*info)["model"]["neck"]["channels"], 32) << "the folder's architecture";
  auto run_cfg = read_json_file(tune + "/config.json");
  ASSERT_TRUE(run_cfg);
  EXPECT_EQ((*run_cfg)["init_from"], base + "/model");

  // Resuming continues the fine-tune from its own checkpoint, not from --init again.
  r = run_cli({"train-detector", "--out", tune, "--data", (root / "export").string(), "--resume", "--set",
               "optim.epochs=3"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("initialised from"), std::string::npos) << r.output;

  // Before and after on the held-back fields: the white-cell-like class only, at a threshold.
  for (const std::string& m : {base, tune}) {
    r = run_cli({"eval-detector", "--model", m + "/model", "--data", (root / "heldback").string(), "--format",
                 "labelme", "--class-map", "*=red", "--annotated", "red", "--score-threshold", "0.3", "--json",
                 (root / "eval.json").string()});
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("red        at score >= 0.3: found "), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("blue       at score"), std::string::npos) << "unannotated: not scored\n" << r.output;
  }

  // Wrong input is named: a missing folder, a class the model does not have.
  r = run_cli({"train-detector", "--init", (root / "nope").string(), "--config", (root / "tune.json").string(),
               "--data", (root / "export").string(), "--out", (root / "bad").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find((root / "nope").string()), std::string::npos) << r.output;
  r = run_cli({"train-detector", "--init", base + "/model", "--config", (root / "tune.json").string(), "--data",
               (root / "export").string(), "--out", (root / "bad").string(), "--set", "data.annotated_classes=[\"WBC\"]"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("data.annotated_classes"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ms
