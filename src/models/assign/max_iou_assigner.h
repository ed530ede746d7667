#pragma once
// MaxIoU assignment, RetinaNet's original rule (Lin et al., ICCV 2017, sec. 4): an anchor is
// positive for the box it overlaps most when IoU >= pos_iou, negative below neg_iou, ignored in
// between. Low-quality matches (Ren et al., Faster R-CNN) give every box its best anchor(s) even
// under pos_iou, so no object is left without a positive.
#include "models/assign/assign_result.h"

namespace ms {

struct MaxIouAssignerOptions {
  float pos_iou = 0.5f;
  float neg_iou = 0.4f;
  bool low_quality_matches = true;
  // A box's best anchors are only forced positive when their IoU is at least this (mmdetection's
  // min_pos_iou); 0 means always.
  float min_low_quality_iou = 0.0f;
  template <class V>
  void visit(V& v) {
    v("pos_iou", pos_iou);
    v("neg_iou", neg_iou);
    v("low_quality_matches", low_quality_matches);
    v("min_low_quality_iou", min_low_quality_iou);
  }
};

class MaxIouAssigner {
 public:
  explicit MaxIouAssigner(MaxIouAssignerOptions options = {});
  // Uses input.anchors [A,4] and input.gt_boxes [G,4]. For low-quality matches every anchor whose
  // IoU with box g equals g's best IoU is given to g (mmdetection's gt_max_assign_all; when two
  // boxes claim one anchor the later box wins).
  AssignResult assign(const AssignInput& input) const;

 private:
  MaxIouAssignerOptions options_;
};

}  // namespace ms
