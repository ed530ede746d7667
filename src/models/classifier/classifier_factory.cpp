#include "models/classifier/classifier_factory.h"

#include "core/error.h"

namespace ms {

std::shared_ptr<ClassifierNetImpl> make_classifier(const ClassifierModelOptions& o, int num_classes) {
  if (o.input_size < 16 || o.input_size > 1024)
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "model.input_size: expected 16..1024, found " + std::to_string(o.input_size));
  switch (o.arch) {
    case ClassifierArch::kVit:
      return std::make_shared<VisionTransformerImpl>(o.vit, o.input_size, num_classes);
    case ClassifierArch::kCnn:
      return std::make_shared<CnnClassifierImpl>(o.cnn, num_classes);
  }
  throw MarrowError(ErrorCode::kInternal, "unknown classifier architecture");
}

int64_t count_parameters(ClassifierNetImpl& net) {
  int64_t n = 0;
  for (const auto& p : net.parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

}  // namespace ms
