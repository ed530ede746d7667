#pragma once
// Readying a loaded, eval-mode network for inference as MARROWSCOPE_PRECISION asks (models/runtime.h):
// BatchNorms folded into the convolutions, bfloat16 copies for bf16, and for int8 the ResNet
// quantized with the model folder's calibration (engine/int8_calibration.h). One place, so the
// predictors and the benchmarks run exactly the same network. Includes LibTorch.
#include <string>

#include "core/error.h"
#include "models/classifier/classifier_net.h"
#include "models/detector/retina_net.h"
#include "models/runtime.h"

namespace ms {

// `asked` (MARROWSCOPE_PRECISION's inference_precision() unless the caller needs another: a
// calibration measures in float32) resolved for this model: int8 only where model_dir has a calibration of `version`
// (a stale or malformed one is an error naming it, not silence) and the CPU can use it; a network
// without an int8 path, or asked for int8 without a calibration, runs bf16 where native, else
// fp32. Off the CPU: fp32. Returns the precision the network now runs in on the CPU.
Result<Precision> prepare_classifier_for_inference(ClassifierNetImpl& net, const std::string& model_dir,
                                                   const std::string& version, bool cpu, Precision asked);
Result<Precision> prepare_detector_for_inference(RetinaNetImpl& net, const std::string& model_dir,
                                                 const std::string& version, bool cpu, Precision asked);

}  // namespace ms
