#include "engine/predict/classifier_predictor.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/cuda.h>

#include "engine/classifier/cell_cache.h"
#include "engine/predict/classifier_predictor_impl.h"
#include "engine/predict/inference_preparation.h"
#include "engine/train/image_tensor.h"
#include "models/classifier/test_time_views.h"
#include "models/runtime.h"

namespace ms {

at::Tensor ClassifierPredictor::Impl::preprocess(const std::vector<cv::Mat>& crops) const {
  const int s = info.model.input_size;
  auto t = at::empty({static_cast<int64_t>(crops.size()), 3, s, s}, at::kFloat);
  float* dst = t.data_ptr<float>();
  for (size_t i = 0; i < crops.size(); ++i) {
    const cv::Mat& c = crops[i];
    if (c.empty() || c.type() != CV_8UC3)
      throw MarrowError(ErrorCode::kInvalidArgument,
                        "crop " + std::to_string(i) + ": expected a non-empty 8-bit BGR image, found " +
                            (c.empty() ? std::string("an empty image") : "type " + std::to_string(c.type())));
  }
  // Each crop writes only its own slice, so the crops are shared among the intra-op threads
  // (a serial loop when the caller is already inside a parallel region).
  at::parallel_for(0, static_cast<int64_t>(crops.size()), 4, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const cv::Mat view = center_crop(resize_square(crops[static_cast<size_t>(i)], cache_side), s);
      bgr_to_chw(view, info.normalization, dst + i * 3 * s * s);
    }
  });
  return t.to(at::Device(device));
}

ClassifierPredictor::ClassifierPredictor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClassifierPredictor::~ClassifierPredictor() = default;

Result<std::unique_ptr<ClassifierPredictor>> ClassifierPredictor::load(const std::string& model_dir,
                                                                       const std::string& device,
                                                                       std::optional<Precision> precision) {
  if (device != "cpu" && (device.rfind("cuda", 0) != 0 || !torch::cuda::is_available()))
    return fail(ErrorCode::kInvalidArgument, "device", "cpu, or cuda with a CUDA build and GPU", device);
  auto impl = std::make_unique<Impl>();
  auto net = load_classifier_model(model_dir, impl->info);
  if (!net) return tl::unexpected(net.error());
  impl->net = *net;
  impl->device = device;
  impl->net->to(at::Device(device));
  impl->net->eval();
  auto prepared = prepare_classifier_for_inference(*impl->net, model_dir, impl->info.version, device == "cpu",
                                                   precision.value_or(inference_precision()));
  if (!prepared) return tl::unexpected(prepared.error());
  impl->precision = *prepared;
  impl->cache_side = cache_side_for(impl->info.model.input_size, impl->info.crop_fraction);
  // A folder without atypical.json gives no atypical score; a broken one is an error, not silence.
  auto ref = read_atypical(model_dir, impl->info.classes);
  if (ref) {
    impl->atypical.emplace(std::move(*ref));
  } else if (ref.error().code != ErrorCode::kNotFound) {
    return tl::unexpected(ref.error());
  }
  return std::unique_ptr<ClassifierPredictor>(new ClassifierPredictor(std::move(impl)));
}

const std::vector<std::string>& ClassifierPredictor::classes() const { return impl_->info.classes; }
std::string ClassifierPredictor::version() const { return impl_->info.version; }
int ClassifierPredictor::input_size() const { return impl_->info.model.input_size; }
int ClassifierPredictor::test_time_views() const { return impl_->info.test_time_views; }
void ClassifierPredictor::set_test_time_views(int views) {
  require_test_time_views(views);
  impl_->info.test_time_views = views;
}

bool ClassifierPredictor::has_atypical() const { return impl_->atypical.has_value(); }

std::string ClassifierPredictor::precision() const {
  return impl_->device == "cpu" ? precision_name(impl_->precision) : "fp32";
}

Status ClassifierPredictor::observe_int8_activations(const std::vector<cv::Mat>& crops_bgr,
                                                     const ActivationVisitor& visit) {
  c10::NoGradGuard no_grad;
  const at::Tensor x = impl_->preprocess(crops_bgr);
  for (int v = 0; v < impl_->info.test_time_views; ++v)
    if (!impl_->net->observe_activations(dihedral_view(x, v), visit))
      return fail(ErrorCode::kUnsupportedFormat, "this classifier has no int8 path (only CNN classifiers with batch norm have one)");
  return {};
}

namespace {

// Runs fn(probs [B,C], embeddings [B,D] or undefined, chunk offset) over batches of up to 64 crops.
template <class Fn>
void for_each_batch(ClassifierPredictor::Impl& impl, const std::vector<cv::Mat>& crops, bool want_embedding,
                    Fn&& fn) {
  constexpr size_t kBatch = 64;
  c10::NoGradGuard no_grad;
  for (size_t begin = 0; begin < crops.size(); begin += kBatch) {
    const size_t end = std::min(crops.size(), begin + kBatch);
    std::vector<cv::Mat> chunk(crops.begin() + begin, crops.begin() + end);
    ViewAveragedOutput r;
    {
      const InferencePrecisionScope precision(impl.device == "cpu" ? impl.precision : Precision::kFp32);
      r = forward_views(*impl.net, impl.preprocess(chunk), impl.info.test_time_views, want_embedding);
    }
    auto probs = r.probs.to(at::kCPU).to(at::kFloat).contiguous();
    at::Tensor emb;
    if (want_embedding) emb = r.embedding.to(at::kCPU).to(at::kFloat).contiguous();
    fn(probs, emb, begin);
  }
}

}  // namespace

std::vector<std::vector<float>> ClassifierPredictor::embed(const std::vector<cv::Mat>& crops_bgr) {
  std::vector<std::vector<float>> out;
  out.reserve(crops_bgr.size());
  for_each_batch(*impl_, crops_bgr, true, [&](const at::Tensor&, const at::Tensor& emb, size_t) {
    const int64_t d = emb.size(1);
    const float* e = emb.data_ptr<float>();
    for (int64_t i = 0; i < emb.size(0); ++i) out.emplace_back(e + i * d, e + (i + 1) * d);
  });
  return out;
}

std::vector<ClassPrediction> ClassifierPredictor::classify(const std::vector<cv::Mat>& crops_bgr) {
  std::vector<ClassPrediction> out;
  out.reserve(crops_bgr.size());
  const auto& scorer = impl_->atypical;
  const AtypicalReference* ref = scorer ? &scorer->reference() : nullptr;
  for_each_batch(*impl_, crops_bgr, ref != nullptr, [&](const at::Tensor& probs, const at::Tensor& emb, size_t) {
    const int64_t c = probs.size(1);
    const float* p = probs.data_ptr<float>();
    if (ref && emb.size(1) != ref->dim)
      throw MarrowError(ErrorCode::kInvalidArgument,
                        std::string(kAtypicalFile) + ": dim " + std::to_string(ref->dim) +
                            " does not match the network's embedding size " + std::to_string(emb.size(1)));
    for (int64_t i = 0; i < probs.size(0); ++i) {
      ClassPrediction pr;
      pr.probs.assign(p + i * c, p + (i + 1) * c);
      pr.class_id = static_cast<int>(std::max_element(pr.probs.begin(), pr.probs.end()) - pr.probs.begin());
      pr.probability = pr.probs[pr.class_id];
      for (float q : pr.probs)
        if (q > 0) pr.entropy -= q * std::log(q);
      if (ref) pr.atypical = scorer->score(emb.data_ptr<float>() + i * ref->dim);
      out.push_back(std::move(pr));
    }
  });
  return out;
}

}  // namespace ms
