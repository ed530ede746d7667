#include "engine/predict/detector_predictor.h"

#include <cstdlib>
#include <filesystem>

#include <ATen/ATen.h>
#include <opencv2/imgproc.hpp>

#include "engine/detector/detector_model_file.h"
#include "engine/predict/inference_preparation.h"
#include "models/runtime.h"

namespace ms {

namespace fs = std::filesystem;

struct DetectorPredictor::Impl {
  std::string dir;
  DetectorModelInfo info;
  RetinaNet net{nullptr};
};

DetectorPredictor::DetectorPredictor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DetectorPredictor::~DetectorPredictor() = default;

Result<std::unique_ptr<DetectorPredictor>> DetectorPredictor::load(const std::string& model_dir,
                                                                  const std::string& device,
                                                                  std::optional<Precision> precision) {
  auto impl = std::make_unique<Impl>();
  impl->dir = model_dir;
  auto net = load_detector_model(model_dir, impl->info);
  if (!net) return tl::unexpected(net.error());
  impl->net = *net;
  try {
    const at::Device d(device);
    if (d.is_cuda() && !at::hasCUDA())
      return fail(ErrorCode::kInvalidArgument, "--device", "a device this LibTorch build supports (cpu)", device);
    impl->net->to(d);
  } catch (const c10::Error&) {
    return fail(ErrorCode::kInvalidArgument, "--device", "cpu or cuda[:N]", device);
  }
  impl->net->eval();
  auto prepared = prepare_detector_for_inference(*impl->net, model_dir, impl->info.version,
                                                 at::Device(device).is_cpu(), precision.value_or(inference_precision()));
  if (!prepared) return tl::unexpected(prepared.error());
  return std::unique_ptr<DetectorPredictor>(new DetectorPredictor(std::move(impl)));
}

std::string DetectorPredictor::precision() const {
  const auto params = impl_->net->parameters();
  const bool cpu = params.empty() || params.front().device().is_cpu();
  return precision_name(cpu ? impl_->net->cpu_precision() : Precision::kFp32);
}

Status DetectorPredictor::observe_int8_activations(const std::vector<cv::Mat>& fields_bgr,
                                                   const ActivationVisitor& visit) {
  std::vector<cv::Mat> usable;
  for (const auto& m : fields_bgr) {
    if (m.empty() || m.depth() != CV_8U || m.channels() != 3)
      return fail(ErrorCode::kInvalidArgument, "calibration fields must be 8-bit BGR images");
    usable.push_back(m);
  }
  impl_->net->observe_int8_activations(usable, visit);
  return {};
}

const std::vector<std::string>& DetectorPredictor::classes() const { return impl_->info.model.classes; }
std::string DetectorPredictor::version() const { return impl_->info.version; }
int DetectorPredictor::input_size() const { return impl_->info.model.input_size; }
const std::string& DetectorPredictor::model_dir() const { return impl_->dir; }

std::vector<std::vector<Detection>> DetectorPredictor::detect(const std::vector<cv::Mat>& fields_bgr) {
  std::vector<std::vector<Detection>> out(fields_bgr.size());
  std::vector<cv::Mat> usable;
  std::vector<size_t> where;
  for (size_t i = 0; i < fields_bgr.size(); ++i) {
    const cv::Mat& m = fields_bgr[i];
    if (m.empty() || m.depth() != CV_8U) continue;  // nothing we can read as a field: no cells
    cv::Mat bgr = m;
    if (m.channels() == 1) cv::cvtColor(m, bgr, cv::COLOR_GRAY2BGR);
    else if (m.channels() == 4) cv::cvtColor(m, bgr, cv::COLOR_BGRA2BGR);
    else if (m.channels() != 3) continue;
    usable.push_back(bgr);
    where.push_back(i);
  }
  if (usable.empty()) return out;
  auto dets = impl_->net->detect(usable);
  for (size_t k = 0; k < where.size(); ++k) out[where[k]] = std::move(dets[k]);
  return out;
}

std::string default_detector_dir() {
  if (const char* env = std::getenv("MARROWSCOPE_MODELS"); env && *env)
    return (fs::path(env) / "detector").string();
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto candidate = exe.parent_path() / ".." / "models" / "detector";
    if (fs::exists(candidate / "model.json", ec)) return fs::weakly_canonical(candidate, ec).string();
  }
  return "models/detector";
}

}  // namespace ms
