#include "engine/predict/inference_preparation.h"

#include <optional>

#include "engine/int8_calibration.h"

namespace ms {

namespace {

// The folder's calibration when `asked` is int8 on the CPU; nullopt when int8 is not asked or the
// folder has none.
Result<std::optional<Int8Calibration>> calibration_for(Precision asked, bool cpu, const std::string& model_dir,
                                                       const std::string& version) {
  if (!cpu || asked != Precision::kInt8) return std::optional<Int8Calibration>{};
  auto c = read_int8_calibration(model_dir, version);
  if (c) return std::optional<Int8Calibration>(std::move(*c));
  if (c.error().code == ErrorCode::kNotFound) return std::optional<Int8Calibration>{};
  return tl::unexpected(c.error());
}

tl::unexpected<Error> bad_calibration(const std::string& model_dir, const MarrowError& e) {
  return tl::unexpected(Error{ErrorCode::kInvalidArgument, model_dir + "/" + kInt8File + ": " + e.what()});
}

}  // namespace

Result<Precision> prepare_classifier_for_inference(ClassifierNetImpl& net, const std::string& model_dir,
                                                   const std::string& version, bool cpu, Precision asked) {
  auto cal = calibration_for(asked, cpu, model_dir, version);
  if (!cal) return tl::unexpected(cal.error());
  Precision p = cpu ? usable_precision(asked, cal->has_value()) : Precision::kFp32;
  net.prepare_for_inference(p == Precision::kBf16);
  if (p != Precision::kInt8) return p;
  try {
    if (net.quantize_for_inference((*cal)->range_pairs())) return p;
  } catch (const MarrowError& e) {
    return bad_calibration(model_dir, e);
  }
  // No int8 path (a ViT, whose preparation keeps nothing per precision): as int8 without a calibration.
  return usable_precision(Precision::kInt8, false);
}

Result<Precision> prepare_detector_for_inference(RetinaNetImpl& net, const std::string& model_dir,
                                                 const std::string& version, bool cpu, Precision asked) {
  auto cal = calibration_for(asked, cpu, model_dir, version);
  if (!cal) return tl::unexpected(cal.error());
  const Precision p = cpu ? usable_precision(asked, cal->has_value()) : Precision::kFp32;
  try {
    const auto ranges = p == Precision::kInt8 ? (*cal)->range_pairs() : ResNetImpl::ActivationRanges{};
    net.prepare_for_inference(p, p == Precision::kInt8 ? &ranges : nullptr);
  } catch (const MarrowError& e) {
    return bad_calibration(model_dir, e);
  }
  return p;
}

}  // namespace ms
