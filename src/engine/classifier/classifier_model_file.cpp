#include "engine/classifier/classifier_model_file.h"

#include <filesystem>

#include "engine/model_file_json.h"
#include "engine/train/checkpoint.h"
#include "models/classifier/test_time_views.h"

namespace ms {

namespace fs = std::filesystem;

Status write_classifier_model(const std::string& dir, ClassifierNetImpl& net,
                              const ClassifierModelInfo& info) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kIo, dir + ": cannot create model folder: " + ec.message());
  if (auto s = save_module((fs::path(dir) / "model.pt").string(), net); !s) return s;
  return write_json_file((fs::path(dir) / "model.json").string(), config_to_json(info));
}

Result<ClassifierModelInfo> read_classifier_model_info(const std::string& dir) {
  const std::string path = (fs::path(dir) / "model.json").string();
  if (!fs::exists(path))
    return fail(ErrorCode::kNotFound, dir, "a classifier folder with model.json and model.pt",
                "no model.json");
  auto j = read_model_json(path, kClassifierModelFormat);
  if (!j) return tl::unexpected(j.error());
  auto info = parse_config<ClassifierModelInfo>(*j, path);
  if (!info) return info;
  if (info->classes.size() < 2)
    return fail(ErrorCode::kInvalidArgument, path + ":$.classes", "at least 2 class names",
                std::to_string(info->classes.size()));
  if (info->normalization.mean.size() != 3 || info->normalization.std.size() != 3)
    return fail(ErrorCode::kInvalidArgument, path + ":$.normalization", "3 means and 3 stds",
                "other lengths");
  for (const auto& [key, stain] : {std::pair{"normalization.stain_standardisation", &info->normalization.stain},
                                    std::pair{"training_stain", &info->training_stain}}) {
    if (!*stain) continue;
    const std::string problem = stain_standardisation_problem(**stain);
    if (!problem.empty()) return fail(ErrorCode::kInvalidArgument, path + ":$." + key, problem, "other values");
  }
  if (!valid_test_time_views(info->test_time_views))
    return fail(ErrorCode::kInvalidArgument, path + ":$.test_time_views", "1, 2, 4 or 8",
                std::to_string(info->test_time_views));
  return info;
}

Result<std::shared_ptr<ClassifierNetImpl>> load_classifier_model(const std::string& dir,
                                                                 ClassifierModelInfo& info) {
  auto r = read_classifier_model_info(dir);
  if (!r) return tl::unexpected(r.error());
  info = std::move(*r);
  std::shared_ptr<ClassifierNetImpl> net;
  try {
    net = make_classifier(info.model, static_cast<int>(info.classes.size()));
  } catch (const MarrowError& e) {
    return fail(ErrorCode::kInvalidArgument, dir + "/model.json: " + e.what());
  }
  if (auto s = load_module((fs::path(dir) / "model.pt").string(), *net); !s)
    return tl::unexpected(s.error());
  net->eval();
  return net;
}

}  // namespace ms
