#pragma once
// RetinaNet head (Lin et al. 2017, fig. 3): two subnets shared across pyramid levels, each
// num_convs x (conv3x3 + [GroupNorm] + ReLU); the class subnet ends in conv3x3 -> A*C logits with
// bias -log((1-pi)/pi) (pi = prior_prob, sec. 4.1 "Initialization"); the box subnet in conv3x3 ->
// A*4 deltas. The optional IoU branch (thesis 4.2.2, IoU-aware RetinaNet, Wu et al. 2020) is a
// conv3x3 -> A logits on the box subnet's features, predicting the IoU of each decoded box with
// its target.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

namespace ms {

enum class HeadNorm { kNone, kGroup };  // kGroup: GroupNorm(32) as RetinaNet v2 / FCOS heads
const std::vector<std::pair<HeadNorm, std::string>>& enum_names(HeadNorm);

struct RetinaHeadOptions {
  int num_convs = 4;
  HeadNorm norm = HeadNorm::kNone;
  float prior_prob = 0.01f;
  bool iou_branch = false;
  template <class V>
  void visit(V& v) {
    v("num_convs", num_convs);
    v("norm", norm);
    v("prior_prob", prior_prob);
    v("iou_branch", iou_branch);
  }
};
void validate(const RetinaHeadOptions& o);  // throws MarrowError(kInvalidArgument)

struct HeadOutput {
  at::Tensor cls_logits;  // [B, sum_l H_l*W_l*A, C]
  at::Tensor box_deltas;  // [B, sum_l H_l*W_l*A, 4] (BoxCoder deltas)
  at::Tensor iou_logits;  // [B, sum_l H_l*W_l*A] or undefined without the IoU branch
};

class RetinaHeadImpl : public torch::nn::Module {
 public:
  RetinaHeadImpl(const RetinaHeadOptions& options, int64_t in_channels, int64_t num_anchors,
                 int64_t num_classes);
  // features: one [B, in_channels, H_l, W_l] map per level. Rows are ordered level by level, then
  // (y, x, anchor) within a level, matching AnchorGenerator::generate.
  HeadOutput forward(const std::vector<at::Tensor>& features);
  const RetinaHeadOptions& options() const { return options_; }

 private:
  RetinaHeadOptions options_;
  int64_t num_anchors_, num_classes_;
  torch::nn::Sequential cls_tower_{nullptr}, box_tower_{nullptr};
  torch::nn::Conv2d cls_out_{nullptr}, box_out_{nullptr}, iou_out_{nullptr};
};
TORCH_MODULE(RetinaHead);

}  // namespace ms
