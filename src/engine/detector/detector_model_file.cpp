#include "engine/detector/detector_model_file.h"

#include <filesystem>

#include "engine/model_file_json.h"
#include "engine/train/checkpoint.h"

namespace ms {

namespace fs = std::filesystem;

Status write_detector_model(const std::string& dir, RetinaNetImpl& net, const DetectorModelInfo& info) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kIo, dir + ": cannot create model folder: " + ec.message());
  if (auto s = save_module((fs::path(dir) / "model.pt").string(), net); !s) return s;
  return write_json_file((fs::path(dir) / "model.json").string(), config_to_json(info));
}

Result<DetectorModelInfo> read_detector_model_info(const std::string& dir) {
  const std::string path = (fs::path(dir) / "model.json").string();
  if (!fs::exists(path))
    return fail(ErrorCode::kNotFound, dir, "a detector folder with model.json and model.pt",
                "no model.json");
  auto j = read_model_json(path, kDetectorModelFormat);
  if (!j) return tl::unexpected(j.error());
  auto info = parse_config<DetectorModelInfo>(*j, path);
  if (!info) return info;
  try {
    validate(info->model);
  } catch (const MarrowError& e) {
    return fail(ErrorCode::kInvalidArgument, path + ": " + e.what());
  }
  return info;
}

Result<RetinaNet> load_detector_model(const std::string& dir, DetectorModelInfo& info) {
  auto r = read_detector_model_info(dir);
  if (!r) return tl::unexpected(r.error());
  info = std::move(*r);
  RetinaNet net(info.model);
  if (auto s = load_module((fs::path(dir) / "model.pt").string(), *net); !s) return tl::unexpected(s.error());
  net->eval();
  return net;
}

}  // namespace ms
