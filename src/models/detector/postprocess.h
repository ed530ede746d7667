#pragma once
// RetinaNet inference post-processing (Lin et al. 2017, sec. 4 "Inference"; torchvision 0.14
// RetinaNet.postprocess_detections):
//  1. per level: class probabilities sigmoid(logit) over all (anchor, class) pairs, keep those
//     > score_threshold, then the top topk_per_level;
//  2. decode the kept anchors' deltas, clip to the network input;
//  3. ranking score = class score, or with the IoU branch (thesis 4.2.2)
//     score = cls^(1 - iou_power) * sigmoid(iou_logit)^iou_power  (iou_power 0.5 = sqrt(cls*iou),
//     Wu et al. 2020; 0 = class score only);
//  4. class-wise NMS at nms_threshold over all levels, keep the best max_detections;
//  5. map boxes back through each image's Letterbox to its original pixels.
#include <vector>

#include "core/box.h"
#include "models/detector/box_coder.h"

namespace ms {

struct PostprocessOptions {
  float score_threshold = 0.05f;
  int topk_per_level = 1000;
  float nms_threshold = 0.5f;
  int max_detections = 100;
  float iou_power = 0.5f;
  template <class V>
  void visit(V& v) {
    v("score_threshold", score_threshold);
    v("topk_per_level", topk_per_level);
    v("nms_threshold", nms_threshold);
    v("max_detections", max_detections);
    v("iou_power", iou_power);
  }
};

struct Detection {
  Box box;                  // xyxy, pixels of the original image (or of the input without a letterbox)
  int class_id = 0;         // index into RetinaNetOptions::classes
  float score = 0.f;        // ranking score (step 3)
  float class_score = 0.f;  // sigmoid class probability
  float iou = -1.f;         // predicted IoU, -1 without the IoU branch
};

struct RetinaNetOutput;

// out: a forward pass over B images. letterboxes: empty (boxes stay in input pixels, clipped to
// the input) or one per image (its dst size must be the unpadded input size the image was
// letterboxed to). Returns, per image, detections sorted by decreasing score.
std::vector<std::vector<Detection>> postprocess(const RetinaNetOutput& out,
                                                const std::vector<Letterbox>& letterboxes,
                                                const BoxCoder& coder,
                                                const PostprocessOptions& options);

}  // namespace ms
