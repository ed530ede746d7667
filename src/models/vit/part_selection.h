#pragma once
// Sparse-attention part selection (thesis 5.2.3; after TransFG, He et al., AAAI 2022).
//
// Before the last encoder block, keep only the tokens the network attends to most:
//  1. take the class-token rows of the attention maps of blocks 1..L-1, A_l[b,h,0,:];
//  2. squeeze-excitation (Hu et al., CVPR 2018) over those maps gives one weight per
//     (block, head): squeeze = the peak class-token attention max_j A_l[b,h,0,j] (global average
//     pooling is useless here: every attention row sums to 1, so its mean is the constant 1/N),
//     excitation = FC -> ReLU -> FC -> sigmoid;
//  3. combined[b,h,:] = sum_l w[b,l,h] * A_l[b,h,0,:];
//  4. for each head, the patch token (index >= 1) with the largest combined attention is kept.
// The last block then sees [class token; one selected token per head].
//
// The arg-max is not differentiable; so that the SE weights still learn, the selected tokens are
// multiplied by (1 + s - stopgrad(s)), s the combined score: 1 in value, d/ds = 1 in gradient.
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

namespace ms {

struct PartSelectionOptions {
  int layers = 5;  // L-1 attention maps in
  int heads = 3;
  int hidden = 0;  // excitation width; 0 = max(4, layers*heads/2)
};

struct PartSelectionOutput {
  at::Tensor indices;   // [B,h] int64, token index in 1..N-1 chosen by each head
  at::Tensor scores;    // [B,h] combined class-token attention at the chosen token
  at::Tensor weights;   // [B,layers,h] SE weights in (0,1)
  at::Tensor combined;  // [B,h,N] weighted sum of class-token attention rows
};

class PartSelectionImpl : public torch::nn::Module {
 public:
  explicit PartSelectionImpl(const PartSelectionOptions& o);
  // attentions: `layers` tensors [B,h,N,N] (blocks 1..L-1, in order).
  PartSelectionOutput forward(const std::vector<at::Tensor>& attentions);
  // tokens: [B,N,D] (output of block L-1) -> [B,1+h,D]: class token then the selected tokens,
  // scaled by the straight-through gate described above.
  at::Tensor gather(const at::Tensor& tokens, const PartSelectionOutput& sel) const;
  torch::nn::Linear& fc1() { return fc1_; }
  torch::nn::Linear& fc2() { return fc2_; }

 private:
  PartSelectionOptions options_;
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(PartSelection);

}  // namespace ms
