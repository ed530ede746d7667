#pragma once
// RetinaNet (Lin et al., ICCV 2017) and the thesis's improved variant (ch. 4) from one config:
//   ResNet backbone -> FPN neck (levels configurable, optional attention-gated path aggregation)
//   -> RetinaHead (class + box subnets, optional IoU branch) + AnchorGenerator + BoxCoder.
// Variants are configs (e.g. neck.path_aggregation, head.iou_branch, neck.min_level/max_level);
// label assignment lives in models/assign and the loss in models/loss/detection_loss.h.
//
// Typical use (training):
//   RetinaNet net(options);
//   RetinaNetOutput out = net->forward(images);         // images [B,3,H,W] normalised
//   ... assign per image on out.anchors -> DetectionTargets ...
//   DetectionLoss loss = detection_loss(out.cls_logits, out.box_deltas, out.iou_logits,
//                                       out.anchors, targets, net->box_coder(), options.loss);
// Inference on original images (any size, BGR 8-bit):
//   auto dets = net->detect({mat1, mat2});             // boxes in each image's own pixels
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <torch/nn/module.h>

#include "core/box.h"
#include "core/config.h"
#include "models/backbone/resnet.h"
#include "models/detector/anchor_generator.h"
#include "models/detector/box_coder.h"
#include "models/detector/postprocess.h"
#include "models/head/retina_head.h"
#include "models/loss/detection_loss.h"
#include "models/neck/fpn.h"
#include "models/runtime.h"

namespace ms {

struct RetinaNetOptions {
  std::vector<std::string> classes{"WBC"};  // class id -> name; num_classes = classes.size()
  int input_size = 512;                     // inference: letterbox to input_size x input_size
  // Input normalisation, RGB order, on pixels scaled to [0,1]: x = (rgb/255 - mean) / std.
  std::vector<float> pixel_mean{0.485f, 0.456f, 0.406f};
  std::vector<float> pixel_std{0.229f, 0.224f, 0.225f};
  ResNetOptions backbone;
  FpnOptions neck;
  RetinaHeadOptions head;
  AnchorOptions anchors;
  BoxCoderOptions box_coder;
  PostprocessOptions postprocess;
  DetectionLossOptions loss;
  template <class V>
  void visit(V& v) {
    v("classes", classes);
    v("input_size", input_size);
    v("pixel_mean", pixel_mean);
    v("pixel_std", pixel_std);
    v("backbone", backbone);
    v("neck", neck);
    v("head", head);
    v("anchors", anchors);
    v("box_coder", box_coder);
    v("postprocess", postprocess);
    v("loss", loss);
  }
};

// Checks every part (throws MarrowError(kInvalidArgument) naming the field, e.g.
// "retina_net.input_size: expected a positive multiple of 32, found 500").
void validate(const RetinaNetOptions& o);

struct RetinaNetOutput {
  at::Tensor cls_logits;  // [B, N, C] raw logits, N = sum_l H_l*W_l*A
  at::Tensor box_deltas;  // [B, N, 4] BoxCoder deltas relative to `anchors`
  at::Tensor iou_logits;  // [B, N] raw IoU logits, or undefined without head.iou_branch
  at::Tensor anchors;     // [N, 4] float32 xyxy, pixels of the (padded) network input, same device
  std::vector<int64_t> anchors_per_level;  // H_l*W_l*A per level, sum = N
  std::vector<float> level_strides;        // 2^l per level
  int64_t anchors_per_location = 0;        // A
  int64_t input_height = 0, input_width = 0;  // padded input size the anchors refer to
  // The head's outputs in float32 whatever precision the network ran in (bf16 autocast).
  void to_float();
};

// Letterboxes a BGR 8-bit image to size x size (grey 114 padding) and normalises it.
// Returns [3, size, size] float32 and the letterbox that maps boxes back.
std::pair<at::Tensor, Letterbox> detector_input(const cv::Mat& bgr, int size,
                                                const std::vector<float>& mean,
                                                const std::vector<float>& std);
// Normalises a BGR 8-bit image without resizing -> [3, H, W] float32 (training on prepared images).
at::Tensor normalize_image(const cv::Mat& bgr, const std::vector<float>& mean,
                           const std::vector<float>& std);

class RetinaNetImpl : public torch::nn::Module {
 public:
  explicit RetinaNetImpl(const RetinaNetOptions& options = {});

  // images: [B, 3, H, W] normalised (any H, W >= 1; padded with zeros on the right/bottom to a
  // multiple of 32 internally, so boxes in input pixels are unaffected).
  RetinaNetOutput forward(const at::Tensor& images);

  // Letterboxes each BGR image to options.input_size, runs forward without gradients and
  // post-processes; boxes come back in each image's own pixels. Leaves the train/eval mode as
  // it found it.
  std::vector<std::vector<Detection>> detect(const std::vector<cv::Mat>& bgr_images);

  // Readies the eval-mode network for CPU inference in `p`: folds the backbone's BatchNorms (with
  // bfloat16 copies for bf16) and, for int8, quantizes the backbone with `int8_ranges` (measured
  // by observe_int8_ranges on training fields; required then; neck and head run as under bf16).
  // detect() and the evaluator then run in cpu_precision(). Throws MarrowError naming a bad range.
  void prepare_for_inference(Precision p, const ResNetImpl::ActivationRanges* int8_ranges = nullptr);
  // What prepare_for_inference chose; detector_inference_precision() before it is called.
  Precision cpu_precision() const;
  // Letterboxes and normalises the fields as detect() does and runs the backbone on them in
  // float32, visiting its activations (ResNetImpl::observe_activations; needs prepare_for_inference).
  void observe_int8_activations(const std::vector<cv::Mat>& bgr_images, const ResNetImpl::ActivationVisitor& visit);

  const RetinaNetOptions& options() const { return options_; }
  const BoxCoder& box_coder() const { return coder_; }
  const AnchorGenerator& anchor_generator() const { return anchors_; }
  ResNet& backbone() { return backbone_; }
  Fpn& neck() { return neck_; }
  RetinaHead& head() { return head_; }

 private:
  RetinaNetOptions options_;
  ResNet backbone_{nullptr};
  Fpn neck_{nullptr};
  RetinaHead head_{nullptr};
  AnchorGenerator anchors_;
  BoxCoder coder_;
  std::optional<Precision> cpu_precision_;  // set by prepare_for_inference
};
TORCH_MODULE(RetinaNet);

}  // namespace ms
