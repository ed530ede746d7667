#pragma once
// The atypical score: how unlike the classifier's training cells a cell looks, whatever class the
// classifier gives it. A softmax always names one of the known classes, often with confidence, for
// a cell it was never taught (a blast, a plasma cell, a smudge, a cell of another stain); the
// distance of its features from every known class is what shows it.
//
// Score: the squared Mahalanobis distance of the cell's embedding (the pooled features before the
// linear head) to the nearest class mean under one covariance shared by all classes (Lee et al.,
// "A Simple Unified Framework for Detecting Out-of-Distribution Samples and Adversarial Attacks",
// NeurIPS 2018), reported as the share of held-out reference cells of the training lab with a
// smaller distance: 0.5 is an ordinary cell of that lab, 0.99 more unusual than 99 of 100 of them,
// 1 beyond every reference cell. Expressed that way it means the same for every model.
//
// The reference lives beside the weights as atypical.json (`marrowscope fit-atypical` writes it);
// a model folder without one gives no score (-1). No LibTorch here.
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace ms {

inline constexpr const char* kAtypicalFormat = "marrowscope-atypical/1";
inline constexpr const char* kAtypicalFile = "atypical.json";

struct AtypicalReference {
  std::string format = kAtypicalFormat;
  std::vector<std::string> classes;          // the classifier's, in id order
  int dim = 0;                               // embedding size D
  std::vector<std::vector<double>> means;    // [C][D] class means of the fitting cells
  std::vector<double> precision;             // [D*D] row-major inverse of the shared covariance
  std::vector<double> calibration;           // ascending distances of the held-out reference cells
  double shrinkage = 0;                      // covariance shrinkage toward its mean variance
  Json provenance = Json::object();          // model version, cell lists, views, counts, date
  template <class V>
  void visit(V& v) {
    v("format", format); v("classes", classes); v("dim", dim); v("means", means);
    v("precision", precision); v("calibration", calibration); v("shrinkage", shrinkage);
    v("provenance", provenance);
  }
};

// Fits the class means and the shared covariance on `embeddings` (one row per cell, all of size
// D) with class ids `labels` in [0, classes.size()), shrinks the covariance by `shrinkage` in
// [0,1) toward (mean variance) x I so that it inverts when D nears the number of cells, inverts
// it, and sorts the distances of `calibration_embeddings` (cells NOT used for the fit, so the
// scale is that of unseen cells of the training lab). Fails naming what is wrong: no cells, a
// class without cells, ragged rows, a label out of range, no calibration cells.
Result<AtypicalReference> fit_atypical(const std::vector<std::vector<float>>& embeddings,
                                       const std::vector<int>& labels,
                                       const std::vector<std::string>& classes,
                                       const std::vector<std::vector<float>>& calibration_embeddings,
                                       double shrinkage = 0.05);

// Squared Mahalanobis distance of one embedding (ref.dim values) to the nearest class mean.
double atypical_distance(const AtypicalReference& ref, const float* embedding);
// Share of calibration distances below `distance` (ties count half), in [0,1].
float atypical_score(const AtypicalReference& ref, double distance);

// atypical_distance for many cells against one reference. The distance to class c expands to
// x'Px - 2 (P mu_c)'x + mu_c'P mu_c; with P mu_c and mu_c'P mu_c computed once, a cell costs one
// D x D product instead of one per class (11x fewer operations for 11 classes). Equal to
// atypical_distance up to rounding; the reference must pass validate_atypical.
class AtypicalScorer {
 public:
  explicit AtypicalScorer(AtypicalReference ref);
  const AtypicalReference& reference() const { return ref_; }
  double distance(const float* embedding) const;
  float score(const float* embedding) const { return atypical_score(ref_, distance(embedding)); }

 private:
  AtypicalReference ref_;
  std::vector<double> p_mean_;     // [C][D] P mu_c
  std::vector<double> mean_term_;  // [C] mu_c' P mu_c
};

// Checks sizes against each other and against the classifier's class list (empty: not checked).
Status validate_atypical(const AtypicalReference& ref, const std::vector<std::string>& classes,
                         const std::string& source);
Status write_atypical(const std::string& model_dir, const AtypicalReference& ref);
// Reads model_dir/atypical.json; kNotFound when the folder has none.
Result<AtypicalReference> read_atypical(const std::string& model_dir,
                                        const std::vector<std::string>& classes);

}  // namespace ms
