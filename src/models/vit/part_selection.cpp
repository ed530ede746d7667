#include "models/vit/part_selection.h"

#include <algorithm>
#include <string>

#include <ATen/ATen.h>

#include "core/error.h"

namespace ms {

PartSelectionImpl::PartSelectionImpl(const PartSelectionOptions& o) : options_(o) {
  MS_CHECK(o.layers >= 1 && o.heads >= 1, "part selection needs at least one block and head");
  const int in = o.layers * o.heads;
  const int hidden = o.hidden > 0 ? o.hidden : std::max(4, in / 2);
  fc1_ = register_module("fc1", torch::nn::Linear(in, hidden));
  fc2_ = register_module("fc2", torch::nn::Linear(hidden, in));
}

PartSelectionOutput PartSelectionImpl::forward(const std::vector<at::Tensor>& attentions) {
  MS_CHECK(static_cast<int>(attentions.size()) == options_.layers,
           "part selection expects " + std::to_string(options_.layers) + " attention maps, got " +
               std::to_string(attentions.size()));
  std::vector<at::Tensor> rows;
  rows.reserve(attentions.size());
  for (const auto& a : attentions) {
    MS_CHECK(a.dim() == 4 && a.size(1) == options_.heads && a.size(2) == a.size(3),
             "part selection expects [B,h,N,N] attention maps");
    rows.push_back(a.select(2, 0));  // class-token row [B,h,N]
  }
  auto cls_rows = at::stack(rows, 1);  // [B,L,h,N]
  const auto b = cls_rows.size(0), n = cls_rows.size(3);
  MS_CHECK(n >= 2, "part selection needs at least one patch token");
  // Squeeze: peak attention to a patch token per (block, head).
  auto squeeze = std::get<0>(cls_rows.narrow(3, 1, n - 1).max(3)).reshape({b, -1});  // [B,L*h]
  auto w = at::sigmoid(fc2_->forward(at::relu(fc1_->forward(squeeze))))
               .view({b, options_.layers, options_.heads});  // [B,L,h]
  auto combined = (cls_rows * w.unsqueeze(-1)).sum(1);    // [B,h,N]
  auto best = combined.narrow(2, 1, n - 1).max(2);        // over patch tokens only
  PartSelectionOutput out;
  out.indices = std::get<1>(best) + 1;
  out.scores = std::get<0>(best);
  out.weights = w;
  out.combined = combined;
  return out;
}

at::Tensor PartSelectionImpl::gather(const at::Tensor& tokens, const PartSelectionOutput& sel) const {
  const auto d = tokens.size(2);
  auto idx = sel.indices.unsqueeze(-1).expand({-1, -1, d});  // [B,h,D]
  auto parts = tokens.gather(1, idx);
  auto gate = 1 + sel.scores - sel.scores.detach();          // value 1, gradient to the SE
  parts = parts * gate.unsqueeze(-1);
  return at::cat({tokens.narrow(1, 0, 1), parts}, 1);
}

}  // namespace ms
