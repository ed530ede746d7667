#include "engine/classifier/classifier_evaluator.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "core/error.h"
#include "models/classifier/test_time_views.h"
#include "models/runtime.h"

namespace ms {

ClassifierPredictions predict_cells(ClassifierNetImpl& net, const CellCache& cache,
                                    const std::vector<int>& indices, int input_size,
                                    const Normalization& norm, int batch_size,
                                    const std::string& device, bool want_embeddings, int views) {
  ClassifierPredictions out;
  const bool was_training = net.is_training();
  net.eval();
  c10::NoGradGuard no_grad;
  CellLoaderOptions lo;
  lo.batch_size = batch_size;
  lo.input_size = input_size;
  lo.train = false;
  lo.norm = norm;
  CellBatchLoader loader(cache, indices, lo);
  const at::Device dev(device);
  const auto t0 = std::chrono::steady_clock::now();
  // Inference as the product runs it: in the process's CPU precision (models/runtime.h); int8 where
  // the network was quantized from its folder's calibration (the predictor does that when loading).
  const Precision precision = dev.is_cpu() ? usable_precision(inference_precision(), net.quantized()) : Precision::kFp32;
  net.prepare_for_inference(dev.is_cpu() && precision == Precision::kBf16);
  while (auto batch = loader.next()) {
    ViewAveragedOutput r;
    {
      const InferencePrecisionScope scope(precision);
      r = forward_views(net, batch->images.to(dev), views, want_embeddings);
    }
    auto probs = r.probs.to(at::kCPU).to(at::kFloat).contiguous();
    const int64_t n = probs.size(0), c = probs.size(1);
    const float* p = probs.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      out.probs.emplace_back(p + i * c, p + (i + 1) * c);
      out.truth.push_back(static_cast<int>(batch->labels[i].item<int64_t>()));
      out.indices.push_back(batch->indices[i]);
    }
    if (want_embeddings) {
      auto e = r.embedding.to(at::kCPU).to(at::kFloat).contiguous();
      const int64_t d = e.size(1);
      const float* ep = e.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) out.embeddings.emplace_back(ep + i * d, ep + (i + 1) * d);
    }
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (was_training) net.train();
  return out;
}

Result<ClassificationMetrics> score_predictions(const ClassifierPredictions& p,
                                                const std::vector<std::string>& classes) {
  std::vector<float> flat;
  flat.reserve(p.probs.size() * classes.size());
  for (const auto& row : p.probs) flat.insert(flat.end(), row.begin(), row.end());
  return evaluate_classification(p.truth, flat, classes, 5);
}

Json evaluation_json(const ClassificationMetrics& m, const ClassifierPredictions& p) {
  Json j = classification_metrics_json(m);
  j.erase("num_samples");  // not an eval-classifier key; the confusion matrix sums to it
  j["cells_per_second"] = p.seconds > 0 ? static_cast<double>(p.truth.size()) / p.seconds : 0.0;
  return j;
}

Status write_embeddings_csv(const std::string& path, const ClassifierPredictions& p,
                            const std::vector<std::string>& paths, const std::vector<std::string>& classes) {
  MS_CHECK(p.embeddings.size() == p.probs.size(),
           "embeddings CSV needs predictions made with want_embeddings");
  std::ofstream f(path, std::ios::trunc);
  if (!f) return fail(ErrorCode::kIo, path, "a writable file", std::strerror(errno));
  const size_t d = p.embeddings.empty() ? 0 : p.embeddings[0].size();
  f << "image,label,prediction,probability";
  for (size_t k = 0; k < d; ++k) f << ",f" << k;
  f << "\n";
  char buf[32];
  for (size_t i = 0; i < p.embeddings.size(); ++i) {
    std::string image = paths.at(static_cast<size_t>(p.indices[i]));
    for (size_t q = image.find('"'); q != std::string::npos; q = image.find('"', q + 2)) image.insert(q, 1, '"');
    const auto& probs = p.probs[i];
    const size_t pred = static_cast<size_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
    f << '"' << image << "\"," << classes.at(static_cast<size_t>(p.truth[i])) << ',' << classes.at(pred);
    std::snprintf(buf, sizeof buf, ",%.6g", probs[pred]);
    f << buf;
    for (float v : p.embeddings[i]) {
      std::snprintf(buf, sizeof buf, ",%.7g", v);
      f << buf;
    }
    f << "\n";
  }
  f.close();
  if (!f) return fail(ErrorCode::kIo, path, "a complete write", "a write error");
  return {};
}

}  // namespace ms
