#pragma once
// Builds a cell classifier from its config: the improved ViT (thesis ch. 5) or the CNN baseline.
// A model folder's model.json carries this config, so a checkpoint is self-describing.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "models/classifier/classifier_net.h"
#include "models/classifier/cnn_classifier.h"
#include "models/vit/vision_transformer.h"

namespace ms {

enum class ClassifierArch { kVit, kCnn };
inline const std::vector<std::pair<ClassifierArch, std::string>>& enum_names(ClassifierArch) {
  static const std::vector<std::pair<ClassifierArch, std::string>> n{{ClassifierArch::kVit, "vit"},
                                                                      {ClassifierArch::kCnn, "cnn"}};
  return n;
}

struct ClassifierModelOptions {
  ClassifierArch arch = ClassifierArch::kVit;
  int input_size = 96;  // square crops, pixels
  VitOptions vit;
  CnnClassifierOptions cnn;
  template <class V>
  void visit(V& v) {
    v("arch", arch); v("input_size", input_size); v("vit", vit); v("cnn", cnn);
  }
};

// Throws MarrowError for invalid options (too-small input for the patch grid, bad depth, ...).
std::shared_ptr<ClassifierNetImpl> make_classifier(const ClassifierModelOptions& o, int num_classes);

// Number of trainable scalars.
int64_t count_parameters(ClassifierNetImpl& net);

}  // namespace ms
