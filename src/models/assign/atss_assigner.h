#pragma once
// Adaptive Training Sample Selection (Zhang et al., "Bridging the Gap Between Anchor-based and
// Anchor-free Detection via ATSS", CVPR 2020, Algorithm 1):
//  1. for each box and each pyramid level, take the top_k * anchors_per_location anchors whose
//     centres are closest (L2) to the box centre -> candidates;
//  2. IoU between the candidates and the box; threshold t = mean + std (unbiased std, as the
//     authors' code);
//  3. candidates with IoU >= t whose centre lies inside the box are positives;
//  4. an anchor claimed by several boxes goes to the one with the highest IoU; all else negative.
#include "models/assign/assign_result.h"

namespace ms {

struct AtssAssignerOptions {
  int top_k = 9;
  template <class V>
  void visit(V& v) {
    v("top_k", top_k);
  }
};

class AtssAssigner {
 public:
  explicit AtssAssigner(AtssAssignerOptions options = {});
  // Uses anchors [A,4], anchors_per_level, anchors_per_location, gt_boxes [G,4].
  AssignResult assign(const AssignInput& input) const;

 private:
  AtssAssignerOptions options_;
};

}  // namespace ms
