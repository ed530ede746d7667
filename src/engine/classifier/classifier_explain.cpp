#include "engine/classifier/classifier_explain.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <opencv2/imgproc.hpp>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/modules/linear.h>

#include "engine/classifier/cell_cache.h"
#include "engine/predict/classifier_predictor_impl.h"
#include "engine/train/image_tensor.h"
#include "models/backbone/resnet.h"

namespace ms {

cv::Rect PatchGeometry::token_rect(int token) const {
  MS_CHECK(token >= 1 && token <= grid * grid, "token index out of the patch grid");
  const int row = (token - 1) / grid, col = (token - 1) % grid;
  return {col * stride * factor, row * stride * factor, patch * factor, patch * factor};
}

at::Tensor attention_rollout(const std::vector<at::Tensor>& attentions, const at::Tensor& selected,
                             double residual) {
  MS_CHECK(!attentions.empty(), "attention rollout needs at least one attention map");
  MS_CHECK(residual >= 0 && residual <= 1, "attention rollout residual must be in [0,1]");
  const auto& first = attentions.front();
  MS_CHECK(first.dim() == 4 && first.size(2) == first.size(3), "attention maps must be [B,h,N,N]");
  const int64_t b = first.size(0), n = first.size(2);
  auto mixed = [&](const at::Tensor& a) {
    const int64_t m = a.size(2);
    auto eye = at::eye(m, a.options()).unsqueeze(0);
    auto r = (1 - residual) * a.mean(1) + residual * eye;  // [B,m,m]
    return r / r.sum(-1, true);                            // rows sum to 1 again
  };
  auto rollout = at::eye(n, first.options()).unsqueeze(0).repeat({b, 1, 1});  // [B,N,N]
  for (size_t l = 0; l < attentions.size(); ++l) {
    const auto& a = attentions[l];
    MS_CHECK(a.dim() == 4 && a.size(0) == b && a.size(2) == a.size(3), "attention maps must be [B,h,N,N]");
    if (a.size(2) == n) {
      rollout = at::bmm(mixed(a), rollout);
      continue;
    }
    // Part selection: the block's tokens are [class; selected], i.e. rows idx of the rollout.
    MS_CHECK(l + 1 == attentions.size(), "only the last block may see fewer tokens (part selection)");
    MS_CHECK(selected.defined() && selected.dim() == 2 && selected.size(0) == b &&
                 selected.size(1) + 1 == a.size(2),
             "a shortened last block needs the selected token indices [B,h]");
    auto idx = at::cat({at::zeros({b, 1}, selected.options()), selected}, 1);  // [B,1+h]
    auto rows = rollout.gather(1, idx.unsqueeze(-1).expand({-1, -1, n}));     // [B,1+h,N]
    rollout = at::bmm(mixed(a), rows);                                          // [B,1+h,N]
  }
  return rollout.select(1, 0).narrow(1, 1, n - 1);
}

at::Tensor last_block_attention(const std::vector<at::Tensor>& attentions, const at::Tensor& selected,
                                int num_tokens) {
  MS_CHECK(!attentions.empty(), "last-block attention needs at least one attention map");
  const auto& a = attentions.back();
  MS_CHECK(a.dim() == 4 && a.size(2) == a.size(3), "attention maps must be [B,h,N,N]");
  auto cls = a.mean(1).select(1, 0);  // [B,N_L]: class-token row, head mean
  if (a.size(2) == num_tokens) return cls.narrow(1, 1, num_tokens - 1);
  MS_CHECK(selected.defined() && selected.dim() == 2 && selected.size(1) + 1 == a.size(2),
           "a shortened last block needs the selected token indices [B,h]");
  auto out = at::zeros({a.size(0), num_tokens - 1}, cls.options());
  return out.scatter_add(1, selected - 1, cls.narrow(1, 1, selected.size(1)));
}

at::Tensor grad_cam(const at::Tensor& features, const at::Tensor& gradients) {
  MS_CHECK(features.dim() == 3 && gradients.sizes() == features.sizes(),
           "grad-cam needs features and gradients of one shape [C,h,w]");
  auto alpha = gradients.mean({1, 2}, true);  // [C,1,1]
  return at::relu((alpha * features).sum(0));
}

cv::Mat token_map_to_image(const std::vector<float>& values, const PatchGeometry& g, int image_size) {
  MS_CHECK(static_cast<int>(values.size()) == g.grid * g.grid, "one value per patch token expected");
  cv::Mat sum = cv::Mat::zeros(image_size, image_size, CV_32F), count = sum.clone();
  const cv::Rect canvas(0, 0, image_size, image_size);
  for (int t = 1; t <= g.grid * g.grid; ++t) {
    const cv::Rect r = g.token_rect(t) & canvas;
    if (r.empty()) continue;
    cv::Mat sum_roi = sum(r), count_roi = count(r);
    sum_roi += cv::Scalar(values[t - 1]);
    count_roi += cv::Scalar(1.0);
  }
  cv::Mat out, covered = cv::max(count, 1.0f);
  cv::divide(sum, covered, out);
  return out;
}

cv::Mat render_overlay(const cv::Mat& view, const cv::Mat& heat, const std::vector<cv::Rect>& patches,
                       int scale, double alpha) {
  MS_CHECK(view.type() == CV_8UC3 && heat.type() == CV_32F && heat.size() == view.size(),
           "overlay needs a BGR view and a float heat map of its size");
  MS_CHECK(scale >= 1 && alpha >= 0 && alpha <= 1, "overlay scale >= 1 and alpha in [0,1]");
  cv::Mat big, heat8, colours, out;
  cv::resize(view, big, {}, scale, scale, cv::INTER_NEAREST);
  heat.convertTo(heat8, CV_8U, 255.0);  // saturating: values outside [0,1] clip
  cv::resize(heat8, heat8, big.size(), 0, 0, cv::INTER_NEAREST);
  cv::applyColorMap(heat8, colours, cv::COLORMAP_JET);
  cv::addWeighted(big, 1 - alpha, colours, alpha, 0, out);
  // Tableau colours (BGR), one per head, as in report_html's charts.
  static const cv::Scalar kHeads[] = {{180, 119, 31}, {14, 127, 255}, {44, 160, 44}, {40, 39, 214},
                                      {189, 103, 148}, {75, 86, 140}, {194, 119, 227}, {127, 127, 127}};
  const int thick = std::max(1, scale / 2);
  for (size_t i = 0; i < patches.size(); ++i) {
    const cv::Rect r(patches[i].x * scale, patches[i].y * scale, patches[i].width * scale,
                     patches[i].height * scale);
    cv::rectangle(out, r, cv::Scalar(255, 255, 255), thick + 2);
    cv::rectangle(out, r, kHeads[i % 8], thick);
  }
  return out;
}

namespace {

// Min-max scales a map to [0,1] (a constant map becomes 0). Rollout maps sit on a floor the
// residual term puts under every token; without removing it a weakly peaked map paints the whole
// cell hot.
cv::Mat normalise_range(const cv::Mat& m) {
  double mn = 0, mx = 0;
  cv::minMaxLoc(m, &mn, &mx);
  if (!(mx > mn)) return cv::Mat::zeros(m.size(), CV_32F);
  cv::Mat out;
  m.convertTo(out, CV_32F, 1.0 / (mx - mn), -mn / (mx - mn));
  cv::Mat clamped = cv::min(cv::max(out, 0.0), 1.0);  // rounding can step a hair outside
  return clamped;
}

std::vector<float> to_vector(const at::Tensor& t) {
  auto c = t.to(at::kCPU).to(at::kFloat).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

}  // namespace

Result<CellExplanation> explain_cell(ClassifierPredictor& predictor, const cv::Mat& crop_bgr,
                                     const ExplainOptions& options) {
  if (crop_bgr.empty() || crop_bgr.type() != CV_8UC3)
    return fail(ErrorCode::kInvalidArgument, "cell crop", "a non-empty 8-bit BGR image",
                crop_bgr.empty() ? "an empty image" : "OpenCV type " + std::to_string(crop_bgr.type()));
  if (options.scale < 1 || options.scale > 32)
    return fail(ErrorCode::kInvalidArgument, "explain scale", "1..32", std::to_string(options.scale));
  if (options.alpha < 0 || options.alpha > 1)
    return fail(ErrorCode::kInvalidArgument, "explain alpha", "a value in [0,1]", std::to_string(options.alpha));
  if (options.residual < 0 || options.residual > 1)
    return fail(ErrorCode::kInvalidArgument, "explain residual", "a value in [0,1]",
                std::to_string(options.residual));
  auto& impl = predictor.impl();
  const auto& info = impl.info;
  const int num_classes = static_cast<int>(info.classes.size());
  if (options.target_class < -1 || options.target_class >= num_classes)
    return fail(ErrorCode::kInvalidArgument, "explain target class", "-1 or a class id below " +
                std::to_string(num_classes), std::to_string(options.target_class));
  const bool vit = info.model.arch == ClassifierArch::kVit;
  ExplainMethod method = options.method;
  if (method == ExplainMethod::kAuto) method = vit ? ExplainMethod::kRollout : ExplainMethod::kGradCam;
  if (vit && method == ExplainMethod::kGradCam)
    return fail(ErrorCode::kInvalidArgument, "explain method", "rollout or attention for a ViT model",
                "gradcam");
  if (!vit && method != ExplainMethod::kGradCam)
    return fail(ErrorCode::kInvalidArgument, "explain method", "gradcam for a CNN model (it has no attention)",
                method == ExplainMethod::kRollout ? "rollout" : "attention");

  CellExplanation out;
  const int s = info.model.input_size;
  out.view = center_crop(resize_square(crop_bgr, impl.cache_side), s).clone();
  const at::Tensor input = impl.preprocess({crop_bgr});
  impl.net->eval();
  at::Tensor logits;
  if (vit) {
    c10::NoGradGuard no_grad;
    auto r = impl.net->forward(input);
    logits = r.logits;
    const auto& p = info.model.vit.patch;
    const PatchGeometry g{r.grid, p.patch, p.stride, 1 << static_cast<int>(p.stem_channels.size())};
    at::Tensor tokens = method == ExplainMethod::kRollout
                            ? attention_rollout(r.attentions, r.selected, options.residual)
                            : last_block_attention(r.attentions, r.selected, r.grid * r.grid + 1);
    out.method = method == ExplainMethod::kRollout ? "rollout" : "attention";
    out.heat = normalise_range(token_map_to_image(to_vector(tokens[0]), g, s));
    if (r.selected.defined())
      for (float t : to_vector(r.selected[0])) {
        out.selected_tokens.push_back(static_cast<int>(t));
        out.selected_patches.push_back(g.token_rect(static_cast<int>(t)) & cv::Rect(0, 0, s, s));
      }
  } else {
    // The CNN's own forward pools C5 away; rebuild it from its parts to keep C5 (eval mode: the
    // dropout before the head is the identity, so the logits are the model's).
    auto children = impl.net->named_children();
    auto backbone = children.contains("backbone") ? std::dynamic_pointer_cast<ResNetImpl>(children["backbone"]) : nullptr;
    auto head = children.contains("head") ? std::dynamic_pointer_cast<torch::nn::LinearImpl>(children["head"]) : nullptr;
    MS_CHECK(backbone && head, "CNN classifier without backbone/head modules");
    c10::AutoGradMode grad(true);
    auto c5 = backbone->forward(input).back();  // [1,C,h,w]
    logits = head->forward(c5.mean({2, 3}));
    const int cls = options.target_class >= 0 ? options.target_class : static_cast<int>(logits[0].argmax().item<int64_t>());
    auto grads = torch::autograd::grad({logits[0][cls]}, {c5});
    auto cam = grad_cam(c5[0].detach(), grads[0][0]).to(at::kCPU).contiguous();
    cv::Mat small(static_cast<int>(cam.size(0)), static_cast<int>(cam.size(1)), CV_32F, cam.data_ptr<float>());
    cv::Mat big;
    cv::resize(small, big, cv::Size(s, s), 0, 0, cv::INTER_LINEAR);  // pixel centres aligned
    out.method = "gradcam";
    out.heat = normalise_range(cv::max(big, 0.0f));
    logits = logits.detach();
  }
  auto probs = at::softmax(logits[0].to(at::kCPU), 0);
  out.predicted = static_cast<int>(probs.argmax().item<int64_t>());
  out.class_id = options.target_class >= 0 ? options.target_class : out.predicted;
  out.probability = probs[out.class_id].item<float>();
  out.overlay = render_overlay(out.view, out.heat, out.selected_patches, options.scale, options.alpha);
  return out;
}

}  // namespace ms
