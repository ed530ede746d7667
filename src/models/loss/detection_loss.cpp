#include "models/loss/detection_loss.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "models/loss/focal_loss.h"
#include "models/loss/giou_loss.h"

namespace ms {

const std::vector<std::pair<BoxLossKind, std::string>>& enum_names(BoxLossKind) {
  static const std::vector<std::pair<BoxLossKind, std::string>> names{
      {BoxLossKind::kSmoothL1, "smooth_l1"}, {BoxLossKind::kGiou, "giou"}};
  return names;
}

DetectionLoss detection_loss(const at::Tensor& cls_logits, const at::Tensor& box_deltas,
                             const at::Tensor& iou_logits, const at::Tensor& anchors,
                             const DetectionTargets& targets, const BoxCoder& coder,
                             const DetectionLossOptions& options) {
  MS_CHECK(cls_logits.dim() == 3, "cls_logits must be [B,N,C]");
  const int64_t b = cls_logits.size(0), n = cls_logits.size(1), c = cls_logits.size(2);
  MS_CHECK(box_deltas.sizes() == (at::IntArrayRef{b, n, 4}), "box_deltas must be [B,N,4]");
  MS_CHECK(anchors.sizes() == (at::IntArrayRef{n, 4}), "anchors must be [N,4]");
  MS_CHECK(targets.labels.sizes() == (at::IntArrayRef{b, n}), "targets.labels must be [B,N]");
  MS_CHECK(targets.boxes.sizes() == (at::IntArrayRef{b, n, 4}), "targets.boxes must be [B,N,4]");
  MS_CHECK(!iou_logits.defined() || iou_logits.sizes() == (at::IntArrayRef{b, n}), "iou_logits must be [B,N]");

  const at::Tensor labels = targets.labels.to(cls_logits.device(), at::kLong);
  MS_CHECK(labels.numel() == 0 || labels.max().item<int64_t>() < c, "a target label is >= the class count");
  const at::Tensor positive = labels >= 0;   // [B,N]
  const at::Tensor valid = labels >= -1;     // not ignored
  const int64_t num_pos = positive.sum().item<int64_t>();
  const double norm = static_cast<double>(std::max<int64_t>(1, num_pos));

  DetectionLoss out;
  out.num_positive = num_pos;

  // Classification: one-hot over the C foreground classes, background rows all zero.
  at::Tensor onehot = at::zeros_like(cls_logits);
  if (num_pos > 0) {
    const at::Tensor pos_idx = positive.nonzero();  // [P,2] (image, anchor)
    onehot.index_put_({pos_idx.select(1, 0), pos_idx.select(1, 1), labels.index({positive})}, 1.0);
  }
  const at::Tensor fl = sigmoid_focal_loss(cls_logits, onehot, options.focal_alpha, options.focal_gamma);
  at::Tensor weight = valid.unsqueeze(-1).to(fl.dtype());  // [B,N,1]
  if (targets.class_mask.defined()) {
    MS_CHECK(targets.class_mask.sizes() == (at::IntArrayRef{b, c}), "targets.class_mask must be [B,C]");
    weight = weight * targets.class_mask.to(fl.device(), fl.scalar_type()).unsqueeze(1);  // [B,N,C]
  }
  out.cls = (fl * weight).sum() / norm;

  const at::Tensor zero = cls_logits.new_zeros({});
  out.box = zero;
  out.iou = zero;
  if (num_pos > 0) {
    const at::Tensor pos_anchor = positive.nonzero().select(1, 1);
    const at::Tensor a = anchors.to(box_deltas.device(), box_deltas.scalar_type()).index_select(0, pos_anchor);
    const at::Tensor d = box_deltas.index({positive});                                // [P,4]
    const at::Tensor gt = targets.boxes.to(box_deltas.device(), box_deltas.scalar_type()).index({positive});
    at::Tensor decoded;  // only computed when needed
    if (options.box_loss == BoxLossKind::kGiou) {
      decoded = coder.decode(d, a);
      out.box = giou_loss(decoded, gt).sum() / norm;
    } else {
      const at::Tensor t = coder.encode(gt, a);
      const at::Tensor diff = (d - t).abs();
      const double beta = options.smooth_l1_beta;
      const at::Tensor l = beta > 0 ? at::where(diff < beta, 0.5 * diff * diff / beta, diff - 0.5 * beta) : diff;
      out.box = l.sum() / norm;
    }
    out.box = out.box * options.box_weight;
    if (iou_logits.defined()) {
      if (!decoded.defined()) decoded = coder.decode(d, a);
      const at::Tensor target_iou = aligned_iou(decoded.detach(), gt).clamp(0, 1);
      out.iou = at::binary_cross_entropy_with_logits(iou_logits.index({positive}), target_iou, {}, {},
                                                     at::Reduction::Sum) /
                norm * options.iou_weight;
    }
  } else {
    // Keep every output in the graph so backward() works on images without objects.
    out.box = (box_deltas.sum() * 0.0);
    if (iou_logits.defined()) out.iou = iou_logits.sum() * 0.0;
  }
  out.total = out.cls + out.box + out.iou;
  return out;
}

}  // namespace ms
