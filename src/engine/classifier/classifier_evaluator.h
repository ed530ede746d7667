#pragma once
// Runs a classifier over cached cells and summarises the predictions (accuracy, top-5, per-class
// precision/recall/F1, confusion matrix, speed). Used after every training epoch and by
// `eval-classifier`.
#include <string>
#include <vector>

#include "core/config.h"
#include "engine/classifier/cell_batch_loader.h"
#include "engine/metrics/classification_metrics.h"
#include "models/classifier/classifier_net.h"

namespace ms {

struct ClassifierPredictions {
  std::vector<int> truth;                       // class id per sample
  std::vector<std::vector<float>> probs;        // softmax [N][C]
  std::vector<std::vector<float>> embeddings;   // [N][D] when requested
  std::vector<int> indices;                     // cache index per sample
  double seconds = 0;                           // model time (batching and forward)
};

// Evaluates `indices` of the cache in batches (center crop, no augmentation), in eval mode,
// without gradients. device: where the model lives. views: dihedral test-time views averaged per
// cell (models/classifier/test_time_views.h; 1 = the crop only, as during training).
ClassifierPredictions predict_cells(ClassifierNetImpl& net, const CellCache& cache,
                                    const std::vector<int>& indices, int input_size,
                                    const Normalization& norm, int batch_size,
                                    const std::string& device, bool want_embeddings, int views = 1);

// Metrics of the predictions (engine/metrics, sklearn definitions). Fails on an empty set.
Result<ClassificationMetrics> score_predictions(const ClassifierPredictions& p,
                                                const std::vector<std::string>& classes);

// JSON with exactly the documented keys of `eval-classifier`, which users script against:
// accuracy, top5, macro_f1, weighted_f1, per_class.<name>.{precision,recall,f1,support}, classes,
// confusion (rows = truth), cells_per_second.
Json evaluation_json(const ClassificationMetrics& m, const ClassifierPredictions& p);

// Per-image features for t-SNE/UMAP plots (thesis fig. 5.10), one CSV row per prediction:
//   image,label,prediction,probability,f0,...,f{D-1}
// image = paths[p.indices[i]] (quoted, quotes doubled), label / prediction = class names,
// probability = softmax of the prediction, f* = p.embeddings[i] (ViT: class token after the final
// LayerNorm; CNN: globally pooled last stage). Needs predictions made with want_embeddings.
Status write_embeddings_csv(const std::string& path, const ClassifierPredictions& p,
                            const std::vector<std::string>& paths, const std::vector<std::string>& classes);

}  // namespace ms
