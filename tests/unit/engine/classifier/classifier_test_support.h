#pragma once
// Shared by the classifier tests in this folder: reading a written file back, and small
// folder-per-class trees of synthetic cells (a coloured disc on a light background).
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "core/image.h"
#include "engine/classifier/classifier_trainer.h"

namespace ms::testing {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// <tmp>/name/{a_blue,b_green,c_red}/<i>.png with counts[c] cells of class c; discs of the class
// colour with jittered centre and radius.
inline std::filesystem::path make_disc_classes(const std::string& name, const std::vector<int>& counts) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / name;
  fs::remove_all(root);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> jitter(-4, 4), radius(9, 13);
  const char* names[3] = {"a_blue", "b_green", "c_red"};
  const cv::Scalar colours[3] = {{200, 60, 40}, {40, 180, 40}, {40, 40, 200}};
  for (size_t c = 0; c < counts.size() && c < 3; ++c) {
    fs::create_directories(root / names[c]);
    for (int i = 0; i < counts[c]; ++i) {
      cv::Mat img(40, 40, CV_8UC3, cv::Scalar(235, 235, 235));
      cv::circle(img, {20 + jitter(rng), 20 + jitter(rng)}, radius(rng), colours[c], cv::FILLED);
      EXPECT_TRUE(write_image((root / names[c] / (std::to_string(i) + ".png")).string(), img));
    }
  }
  return root;
}

// A tiny CNN (input 32, width 1/8, SGD) trained on a folder-per-class tree in a few seconds.
inline ClassifierTrainRequest tiny_cnn_request(const std::filesystem::path& data, const std::filesystem::path& out,
                                               int epochs) {
  ClassifierTrainRequest r;
  r.config.model.arch = ClassifierArch::kCnn;
  r.config.model.input_size = 32;
  r.config.model.cnn.backbone.width = 0.125f;
  r.config.data.val_fraction = 0.2;
  r.config.optim.kind = OptimizerKind::kSgd;
  r.config.optim.lr = 0.05;
  r.config.optim.batch_size = 16;
  r.config.optim.epochs = epochs;
  r.config.optim.contrastive_weight = 0;
  r.config.optim.schedule.warmup_epochs = 1;
  r.data_dir = data.string();
  r.out_dir = out.string();
  r.log = [](const std::string&) {};
  return r;
}

}  // namespace ms::testing
