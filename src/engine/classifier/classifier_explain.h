#pragma once
// Why the classifier said what it said about one cell (`marrowscope explain`; thesis fig. 5.7-5.8):
//
//   ViT, rollout     attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in
//                    Transformers", ACL 2020): per block, the head-averaged attention plus the
//                    residual (A' = (1 - r) mean_h A + r I), multiplied from the first block to the
//                    last; the class token's row over the patch tokens is the map. With part
//                    selection the last block sees [class; selected tokens] only, so its
//                    (1+h)x(1+h) matrix multiplies the rows of those tokens in the rollout so far.
//   ViT, attention   the last block's class-token attention averaged over heads (with part
//                    selection: put back on the grid positions of the selected tokens).
//   CNN, grad-cam    Grad-CAM on the last stage (Selvaraju et al., ICCV 2017):
//                    ReLU(sum_k alpha_k A_k), alpha_k = spatial mean of d logit_c / d A_k.
//
// Token values become pixels by averaging, at each pixel, the values of every patch covering it
// (overlapping patches, thesis 5.2.1, share their border pixels); the patches chosen by part
// selection are outlined, one colour per head. The overlay is drawn on the model's input view of
// the cell (resized to the cache side and center-cropped, exactly as the predictor sees it).
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include "core/error.h"
#include "engine/predict/classifier_predictor.h"

namespace ms {

enum class ExplainMethod { kAuto, kRollout, kAttention, kGradCam };
inline const std::vector<std::pair<ExplainMethod, std::string>>& enum_names(ExplainMethod) {
  static const std::vector<std::pair<ExplainMethod, std::string>> n{{ExplainMethod::kAuto, "auto"},
                                                                     {ExplainMethod::kRollout, "rollout"},
                                                                     {ExplainMethod::kAttention, "attention"},
                                                                     {ExplainMethod::kGradCam, "gradcam"}};
  return n;
}

struct ExplainOptions {
  ExplainMethod method = ExplainMethod::kAuto;  // auto: rollout for a ViT, grad-cam for a CNN
  // Class explained; -1 = the predicted one. Grad-CAM follows it; attention maps do not depend
  // on the class (only the reported probability does).
  int target_class = -1;
  double residual = 0.5;                        // r of the rollout
  int scale = 4;                                // overlay side = input_size * scale (nearest)
  double alpha = 0.5;                           // weight of the heat colours in the overlay
};

// Where the patch tokens of a ViT sit on its input image.
struct PatchGeometry {
  int grid = 0;    // tokens per side
  int patch = 0;   // P, pixels of the stem output
  int stride = 0;  // S
  int factor = 1;  // input pixels per stem-output pixel (2^stem layers)
  // Token t >= 1 covers this square of input pixels (row-major grid: row (t-1)/grid).
  cv::Rect token_rect(int token) const;
};

struct CellExplanation {
  std::string method;                       // "rollout" | "attention" | "gradcam"
  int class_id = -1;                        // the class explained
  int predicted = -1;                       // the arg-max class
  float probability = 0.f;                  // softmax of class_id
  cv::Mat view;                             // CV_8UC3 BGR, input_size^2: what the model saw
  cv::Mat heat;                             // CV_32F, input_size^2, min-max scaled to [0,1] (constant: 0)
  std::vector<int> selected_tokens;         // ViT part selection: one token index per head
  std::vector<cv::Rect> selected_patches;   // their squares, input pixels
  cv::Mat overlay;                          // CV_8UC3 BGR, (input_size * scale)^2
};

// Explains one cell crop (CV_8UC3 BGR, any size). Errors: an empty or non-BGR crop, a method that
// does not fit the architecture (attention maps of a CNN), a target class out of range.
Result<CellExplanation> explain_cell(ClassifierPredictor& predictor, const cv::Mat& crop_bgr,
                                     const ExplainOptions& options = {});

// attentions: per block [B,h,N_l,N_l], rows summing to 1; all blocks N_l = N except, with part
// selection, the last one with N_L = 1 + h' over [class; selected]. selected: [B,h'] token
// indices in 1..N-1, or undefined. Returns [B,N-1]: the class token's rolled-out attention to
// each patch token (token t at column t-1).
at::Tensor attention_rollout(const std::vector<at::Tensor>& attentions, const at::Tensor& selected,
                             double residual);
// Same inputs; returns [B,N-1]: the last block's class-token attention, mean over heads, on the
// grid (with part selection only the selected tokens are non-zero; a token picked by two heads
// gets both shares).
at::Tensor last_block_attention(const std::vector<at::Tensor>& attentions, const at::Tensor& selected,
                                int num_tokens);
// features, gradients: [C,h,w] -> [h,w] Grad-CAM map (ReLU'd, not normalised).
at::Tensor grad_cam(const at::Tensor& features, const at::Tensor& gradients);

// values: one per patch token (grid*grid, row-major) -> CV_32F image_size^2, each pixel the mean
// of the patches covering it (0 where none does).
cv::Mat token_map_to_image(const std::vector<float>& values, const PatchGeometry& g, int image_size);

// view: CV_8UC3; heat: CV_32F of the view's size in [0,1]. Upscales both by `scale` (nearest, so
// patch borders stay sharp), blends a JET colour map of heat with weight alpha and outlines
// `patches` (input pixels), one colour per index.
cv::Mat render_overlay(const cv::Mat& view, const cv::Mat& heat, const std::vector<cv::Rect>& patches,
                       int scale, double alpha);

}  // namespace ms
