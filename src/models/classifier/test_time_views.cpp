#include "models/classifier/test_time_views.h"

#include <algorithm>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/error.h"

namespace ms {

bool valid_test_time_views(int views) { return views == 1 || views == 2 || views == 4 || views == 8; }

void require_test_time_views(int views) {
  if (!valid_test_time_views(views))
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "test-time views: expected 1, 2, 4 or 8, found " + std::to_string(views));
}

at::Tensor dihedral_view(const at::Tensor& images, int v) {
  if (images.dim() != 4 || images.size(2) != images.size(3))
    throw MarrowError(ErrorCode::kInvalidArgument, "test-time views: expected square images [B,C,S,S]");
  switch (v) {
    case 0: return images;
    case 1: return images.flip({3});
    case 2: return images.flip({2});
    case 3: return images.flip({2, 3});
    case 4: return images.transpose(2, 3).contiguous();
    case 5: return images.transpose(2, 3).flip({3});
    case 6: return images.transpose(2, 3).flip({2});
    case 7: return images.transpose(2, 3).flip({2, 3});
    default:
      throw MarrowError(ErrorCode::kInvalidArgument,
                        "test-time views: view index " + std::to_string(v) + " is not in 0..7");
  }
}

ViewAveragedOutput forward_views(ClassifierNetImpl& net, const at::Tensor& images, int views,
                                 bool want_embedding) {
  require_test_time_views(views);
  const int64_t b = images.size(0);
  // Views of a small batch go through the network together: a pipeline's batch holds a few cells,
  // and a forward pass of 4 crops uses the cores far worse than one of 32.
  const int per_call = static_cast<int>(std::clamp<int64_t>(kViewBatch / std::max<int64_t>(b, 1), 1, views));
  ViewAveragedOutput out;
  for (int v0 = 0; v0 < views; v0 += per_call) {
    const int n = std::min(per_call, views - v0);
    std::vector<at::Tensor> parts;
    for (int k = 0; k < n; ++k) parts.push_back(dihedral_view(images, v0 + k));
    auto r = net.forward(n == 1 ? parts[0] : at::cat(parts, 0));
    // In float32 whatever precision the network ran in (bf16 autocast gives bf16 logits).
    auto p = at::softmax(r.logits.to(at::kFloat), 1);
    p = p.view({n, b, p.size(1)}).sum(0);
    out.probs = v0 == 0 ? p : out.probs + p;
    if (want_embedding) {
      auto e = r.embedding.to(at::kFloat);
      e = e.view({n, b, e.size(1)}).sum(0);
      out.embedding = v0 == 0 ? e : out.embedding + e;
    }
  }
  if (views > 1) {
    out.probs = out.probs / static_cast<double>(views);
    if (want_embedding) out.embedding = out.embedding / static_cast<double>(views);
  }
  return out;
}

}  // namespace ms
