#pragma once
// Feature pyramid (Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017) with an
// optional bottom-up path-aggregation branch gated by global attention (thesis 4.2.1).
//
// Top-down (FPN): L_l = conv1x1(C_l) for l in [min_level, 5];
//   P_5 = conv3x3(L_5), P_l = conv3x3(L_l + upsample_nearest(L_{l+1} merged)) for l < 5;
//   extra levels l > 5 by stride-2 conv3x3: P_6 = conv(P_5), P_7 = conv(relu(P_6)), ...
//   (torchvision's LastLevelP6P7 on P5).
// Path aggregation (PANet, Liu et al. CVPR 2018, with the Global Attention of Li et al.'s Pyramid
// Attention Network, BMVC 2018): N_min = P_min and, going up,
//   D_l = relu(conv3x3/2(N_{l-1}))                               (downsampled lower level)
//   g_l = sigmoid(W_2 relu(W_1 GAP(P_l)))                         (squeeze-excitation vector
//                                                                  [B,C,1,1] pooled from P_l, the
//                                                                  next higher FPN level)
//   N_l = conv3x3(P_l + g_l * D_l)                                (re-weight, add, smooth).
// The neck outputs N_l (or P_l without path aggregation), every level with `channels` channels.
#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

namespace ms {

struct FpnOptions {
  int channels = 256;
  int min_level = 3;  // 2..5 (P2 needs C2: the thesis's P2-P6 is min 2, max 6)
  int max_level = 7;  // >= max(min_level, 5)... levels above 5 come from stride-2 convs; <= 8
  bool path_aggregation = false;
  int se_reduction = 16;  // squeeze ratio of the global-attention MLP (SENet, Hu et al. 2018)
  template <class V>
  void visit(V& v) {
    v("channels", channels);
    v("min_level", min_level);
    v("max_level", max_level);
    v("path_aggregation", path_aggregation);
    v("se_reduction", se_reduction);
  }
};

// Throws MarrowError(kInvalidArgument) naming the field: channels < 1, min_level outside 2..5,
// max_level outside [max(min_level,5) .. 8] -- P5 is always computed, so max_level >= 5 --,
// se_reduction < 1.
void validate(const FpnOptions& o);

class FpnImpl : public torch::nn::Module {
 public:
  // in_channels: channels of C2..C5 (ResNetImpl::out_channels()).
  FpnImpl(const FpnOptions& options, std::vector<int64_t> in_channels);

  // features: {C2, C3, C4, C5} from the backbone, C_l [B, in_channels[l-2], H/2^l, W/2^l].
  // Returns one map per level min_level..max_level: [B, channels, ceil(H/2^l), ceil(W/2^l)].
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& features);

  std::vector<int> levels() const;  // min_level..max_level
  const FpnOptions& options() const { return options_; }

 private:
  FpnOptions options_;
  torch::nn::ModuleList lateral_{nullptr};   // conv1x1 per level min..5
  torch::nn::ModuleList output_{nullptr};    // conv3x3 per level min..5
  torch::nn::ModuleList extra_{nullptr};     // stride-2 conv3x3 per level 6..max
  torch::nn::ModuleList down_{nullptr};      // path aggregation: stride-2 conv3x3 per level min+1..max
  torch::nn::ModuleList attention_{nullptr}; //   SE MLP (two 1x1 convs) per level min+1..max
  torch::nn::ModuleList smooth_{nullptr};    //   conv3x3 per level min+1..max
};
TORCH_MODULE(Fpn);

}  // namespace ms
