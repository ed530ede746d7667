#include "models/classifier/test_time_views.h"

#include <string>

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
  ViewAveragedOutput out;
  for (int v = 0; v < views; ++v) {
    auto r = net.forward(dihedral_view(images, v));
    // In float32 whatever precision the network ran in (bf16 autocast gives bf16 logits).
    auto p = at::softmax(r.logits.to(at::kFloat), 1);
    out.probs = v == 0 ? p : out.probs + p;
    if (want_embedding) {
      auto e = r.embedding.to(at::kFloat);
      out.embedding = v == 0 ? e : out.embedding + e;
    }
  }
  if (views > 1) {
    out.probs = out.probs / static_cast<double>(views);
    if (want_embedding) out.embedding = out.embedding / static_cast<double>(views);
  }
  return out;
}

}  // namespace ms
