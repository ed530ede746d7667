#include "models/detector/postprocess.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "core/error.h"
#include "models/detector/retina_net.h"
#include "models/ops/nms.h"

namespace ms {

std::vector<std::vector<Detection>> postprocess(const RetinaNetOutput& out,
                                                const std::vector<Letterbox>& letterboxes,
                                                const BoxCoder& coder,
                                                const PostprocessOptions& options) {
  const at::Tensor cls_all = out.cls_logits.detach().to(at::kCPU, at::kFloat);
  const at::Tensor box_all = out.box_deltas.detach().to(at::kCPU, at::kFloat);
  const at::Tensor iou_all =
      out.iou_logits.defined() ? out.iou_logits.detach().to(at::kCPU, at::kFloat) : at::Tensor();
  const at::Tensor anchors = out.anchors.detach().to(at::kCPU, at::kFloat);
  const int64_t batch = cls_all.size(0), num_classes = cls_all.size(2);
  MS_CHECK(letterboxes.empty() || static_cast<int64_t>(letterboxes.size()) == batch,
           "postprocess needs one letterbox per image or none");
  const bool use_iou = iou_all.defined() && options.iou_power > 0.f;

  std::vector<std::vector<Detection>> result(batch);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<at::Tensor> boxes, scores, cls_scores, ious, labels;
    int64_t start = 0;
    for (const int64_t count : out.anchors_per_level) {
      // Step 1: threshold, then top-k over the level's (anchor, class) pairs.
      const at::Tensor prob = at::sigmoid(cls_all[b].narrow(0, start, count)).flatten();
      at::Tensor idx = (prob > options.score_threshold).nonzero().squeeze(1);
      at::Tensor kept = prob.index_select(0, idx);
      const int64_t k = std::min<int64_t>(options.topk_per_level, kept.size(0));
      if (k < kept.size(0)) {
        const auto top = kept.topk(k);
        kept = std::get<0>(top);
        idx = idx.index_select(0, std::get<1>(top));
      }
      const at::Tensor anchor_idx = at::floor_divide(idx, num_classes) + start;
      // Step 2: decode and clip to the network input.
      at::Tensor decoded = coder.decode(box_all[b].index_select(0, anchor_idx), anchors.index_select(0, anchor_idx));
      decoded = at::stack({decoded.select(1, 0).clamp(0, out.input_width), decoded.select(1, 1).clamp(0, out.input_height),
                           decoded.select(1, 2).clamp(0, out.input_width), decoded.select(1, 3).clamp(0, out.input_height)},
                          1);
      // Step 3: ranking score.
      at::Tensor rank = kept;
      if (use_iou) {
        const at::Tensor iou = at::sigmoid(iou_all[b].index_select(0, anchor_idx));
        rank = at::pow(kept, 1.0 - options.iou_power) * at::pow(iou, options.iou_power);
        ious.push_back(iou);
      }
      boxes.push_back(decoded);
      scores.push_back(rank);
      cls_scores.push_back(kept);
      labels.push_back(at::remainder(idx, num_classes));
      start += count;
    }
    if (boxes.empty()) continue;
    const at::Tensor all_boxes = at::cat(boxes), all_scores = at::cat(scores), all_labels = at::cat(labels);
    const at::Tensor all_cls = at::cat(cls_scores);
    const at::Tensor all_iou = use_iou ? at::cat(ious) : at::Tensor();
    // Step 4: class-wise NMS, best max_detections (keep is sorted by decreasing score).
    at::Tensor keep = batched_nms(all_boxes, all_scores, all_labels, options.nms_threshold);
    keep = keep.narrow(0, 0, std::min<int64_t>(keep.size(0), options.max_detections));
    auto bx = all_boxes.accessor<float, 2>();
    auto sc = all_scores.accessor<float, 1>();
    auto cs = all_cls.accessor<float, 1>();
    auto lb = all_labels.accessor<int64_t, 1>();
    auto kp = keep.accessor<int64_t, 1>();
    for (int64_t i = 0; i < kp.size(0); ++i) {
      const int64_t j = kp[i];
      Detection d;
      d.box = Box{bx[j][0], bx[j][1], bx[j][2], bx[j][3]};
      // Step 5: back to the original image.
      if (!letterboxes.empty()) d.box = letterboxes[b].inverse(d.box);
      d.class_id = static_cast<int>(lb[j]);
      d.score = sc[j];
      d.class_score = cs[j];
      d.iou = use_iou ? all_iou[j].item<float>() : -1.f;
      result[b].push_back(d);
    }
  }
  return result;
}

}  // namespace ms
