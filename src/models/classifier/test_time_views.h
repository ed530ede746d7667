#pragma once
// Test-time views: the classifier is applied to several dihedral transforms of each (square) input
// and the softmax probabilities are averaged. A cell has no preferred orientation on the slide,
// yet a CNN trained with rotation augmentation still answers differently for about one cell in ten
// when the same crop is rotated by 90 degrees (docs/RESULTS.md). With 8 views the answer is the
// same for every rotation and flip of the crop; with 4 for every flip; with 2 for a left-right
// flip. Each prefix of the view list is a group, which is what makes that exact.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "models/classifier/classifier_net.h"

namespace ms {

// True for the supported view counts: 1 (the crop only), 2, 4 and 8.
bool valid_test_time_views(int views);
// Throws MarrowError(kInvalidArgument) naming the value unless valid_test_time_views(views).
void require_test_time_views(int views);

// View v (0 <= v < 8) of images [B,C,S,S]: identity, left-right flip, up-down flip, rotation by
// 180, transpose, rotation by 90, rotation by 270, anti-transpose. Needs square images.
at::Tensor dihedral_view(const at::Tensor& images, int v);

struct ViewAveragedOutput {
  at::Tensor probs;      // [B,C] mean softmax over the views
  at::Tensor embedding;  // [B,D] mean embedding over the views (empty unless asked for)
};

// Crops per forward pass when views are batched together: the classifier predictor's own batch.
inline constexpr int64_t kViewBatch = 64;

// Runs net on the first `views` dihedral views and averages. Views of a batch of B crops go
// through the network together, as many as fit in kViewBatch (B = 4: all 8 in one pass of 32), so
// memory stays that of one batch of at most max(B, kViewBatch). Call in eval mode without gradients.
ViewAveragedOutput forward_views(ClassifierNetImpl& net, const at::Tensor& images, int views,
                                 bool want_embedding);

}  // namespace ms
