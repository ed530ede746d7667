#include "engine/classifier/atypical.h"

#include <algorithm>
#include <filesystem>

#include <opencv2/core.hpp>

#include "engine/model_file_json.h"

namespace ms {

namespace fs = std::filesystem;

namespace {

// x'Px for the reference's precision P, leaving Px in px (ref.dim values each).
double quadratic_form(const AtypicalReference& ref, const double* x, double* px) {
  const size_t d = static_cast<size_t>(ref.dim);
  double q = 0;
  for (size_t r = 0; r < d; ++r) {
    const double* p = ref.precision.data() + r * d;
    double s = 0;
    for (size_t k = 0; k < d; ++k) s += p[k] * x[k];
    px[r] = s;
    q += x[r] * s;
  }
  return q;
}

}  // namespace

Result<AtypicalReference> fit_atypical(const std::vector<std::vector<float>>& embeddings,
                                       const std::vector<int>& labels,
                                       const std::vector<std::string>& classes,
                                       const std::vector<std::vector<float>>& calibration_embeddings,
                                       double shrinkage) {
  if (embeddings.empty()) return fail(ErrorCode::kInvalidArgument, "atypical fit: no cells");
  if (labels.size() != embeddings.size())
    return fail(ErrorCode::kInvalidArgument, "atypical fit labels", std::to_string(embeddings.size()),
                std::to_string(labels.size()));
  if (calibration_embeddings.empty())
    return fail(ErrorCode::kInvalidArgument, "atypical fit: no held-out calibration cells");
  if (!(shrinkage >= 0 && shrinkage < 1))
    return fail(ErrorCode::kInvalidArgument, "atypical shrinkage", "a number in [0, 1)", std::to_string(shrinkage));
  const int d = static_cast<int>(embeddings.front().size());
  const int c = static_cast<int>(classes.size());
  if (d == 0) return fail(ErrorCode::kInvalidArgument, "atypical fit: empty embeddings");
  for (const auto* set : {&embeddings, &calibration_embeddings})
    for (const auto& e : *set)
      if (static_cast<int>(e.size()) != d)
        return fail(ErrorCode::kInvalidArgument, "atypical fit embedding size", std::to_string(d),
                    std::to_string(e.size()));
  AtypicalReference ref;
  ref.classes = classes;
  ref.dim = d;
  ref.shrinkage = shrinkage;
  ref.means.assign(c, std::vector<double>(d, 0.0));
  std::vector<int> counts(c, 0);
  for (size_t i = 0; i < embeddings.size(); ++i) {
    const int y = labels[i];
    if (y < 0 || y >= c)
      return fail(ErrorCode::kInvalidArgument, "atypical fit label", "0.." + std::to_string(c - 1),
                  std::to_string(y));
    ++counts[y];
    for (int k = 0; k < d; ++k) ref.means[y][k] += embeddings[i][k];
  }
  for (int y = 0; y < c; ++y) {
    if (counts[y] == 0)
      return fail(ErrorCode::kInvalidArgument, "atypical fit: class " + classes[y] + " has no cells");
    for (double& m : ref.means[y]) m /= counts[y];
  }
  // Shared (within-class) covariance, then shrinkage toward its mean variance so it inverts.
  cv::Mat centred(static_cast<int>(embeddings.size()), d, CV_64F);
  for (size_t i = 0; i < embeddings.size(); ++i) {
    const auto& mu = ref.means[labels[i]];
    double* row = centred.ptr<double>(static_cast<int>(i));
    for (int k = 0; k < d; ++k) row[k] = embeddings[i][k] - mu[k];
  }
  cv::Mat cov;
  cv::mulTransposed(centred, cov, /*aTa=*/true);
  cov /= static_cast<double>(embeddings.size());
  const double mean_var = cv::trace(cov)[0] / d;
  if (!(mean_var > 0))
    return fail(ErrorCode::kInvalidArgument, "atypical fit: the embeddings do not vary within classes");
  cov = (1.0 - shrinkage) * cov + shrinkage * mean_var * cv::Mat::eye(d, d, CV_64F);
  cv::Mat prec;
  if (cv::invert(cov, prec, cv::DECOMP_CHOLESKY) == 0)
    return fail(ErrorCode::kInvalidArgument, "atypical fit: the covariance is singular (raise the shrinkage)");
  ref.precision.assign(prec.begin<double>(), prec.end<double>());
  ref.calibration.reserve(calibration_embeddings.size());
  for (const auto& e : calibration_embeddings) ref.calibration.push_back(atypical_distance(ref, e.data()));
  std::sort(ref.calibration.begin(), ref.calibration.end());
  return ref;
}

double atypical_distance(const AtypicalReference& ref, const float* embedding) {
  const int d = ref.dim;
  std::vector<double> diff(d), pd(d);
  double best = -1;
  for (const auto& mu : ref.means) {
    for (int k = 0; k < d; ++k) diff[k] = embedding[k] - mu[k];
    const double q = quadratic_form(ref, diff.data(), pd.data());
    if (best < 0 || q < best) best = q;
  }
  return best;
}

AtypicalScorer::AtypicalScorer(AtypicalReference ref) : ref_(std::move(ref)) {
  const size_t d = static_cast<size_t>(ref_.dim);
  p_mean_.assign(ref_.means.size() * d, 0.0);
  mean_term_.assign(ref_.means.size(), 0.0);
  for (size_t c = 0; c < ref_.means.size(); ++c)
    mean_term_[c] = quadratic_form(ref_, ref_.means[c].data(), p_mean_.data() + c * d);
}

double AtypicalScorer::distance(const float* embedding) const {
  const size_t d = static_cast<size_t>(ref_.dim);
  std::vector<double> x(embedding, embedding + d), px(d);
  const double xpx = quadratic_form(ref_, x.data(), px.data());
  double best = -1;
  for (size_t c = 0; c < mean_term_.size(); ++c) {
    const double* pm = p_mean_.data() + c * d;
    double cross = 0;
    for (size_t k = 0; k < d; ++k) cross += pm[k] * x[k];
    // P is positive definite, so the exact value is >= 0; rounding may not be.
    const double q = std::max(0.0, xpx - 2 * cross + mean_term_[c]);
    if (best < 0 || q < best) best = q;
  }
  return best;
}

float atypical_score(const AtypicalReference& ref, double distance) {
  const auto& cal = ref.calibration;
  if (cal.empty()) return -1.f;
  const auto lo = std::lower_bound(cal.begin(), cal.end(), distance);
  const auto hi = std::upper_bound(lo, cal.end(), distance);
  const double below = static_cast<double>(lo - cal.begin()) + 0.5 * static_cast<double>(hi - lo);
  return static_cast<float>(below / static_cast<double>(cal.size()));
}

Status validate_atypical(const AtypicalReference& ref, const std::vector<std::string>& classes,
                         const std::string& source) {
  auto bad = [&](const std::string& key, const std::string& expected, const std::string& found) {
    return fail(ErrorCode::kInvalidArgument, source + ":$." + key, expected, found);
  };
  if (ref.format != kAtypicalFormat) return bad("format", kAtypicalFormat, ref.format);
  if (ref.dim <= 0 || ref.dim > 4096) return bad("dim", "1..4096", std::to_string(ref.dim));
  if (!classes.empty() && ref.classes != classes)
    return bad("classes", "the classifier's classes in its order", "another list");
  if (ref.means.size() != ref.classes.size())
    return bad("means", std::to_string(ref.classes.size()) + " rows", std::to_string(ref.means.size()));
  for (const auto& m : ref.means)
    if (static_cast<int>(m.size()) != ref.dim) return bad("means", "rows of dim values", std::to_string(m.size()));
  const size_t dd = static_cast<size_t>(ref.dim) * static_cast<size_t>(ref.dim);
  if (ref.precision.size() != dd)
    return bad("precision", std::to_string(dd) + " values", std::to_string(ref.precision.size()));
  if (ref.calibration.empty()) return bad("calibration", "at least one distance", "none");
  if (!std::is_sorted(ref.calibration.begin(), ref.calibration.end()))
    return bad("calibration", "ascending distances", "unsorted");
  return {};
}

Status write_atypical(const std::string& model_dir, const AtypicalReference& ref) {
  if (auto s = validate_atypical(ref, {}, kAtypicalFile); !s) return s;
  // Compact: the precision matrix alone is D*D numbers.
  return write_json_file((fs::path(model_dir) / kAtypicalFile).string(), config_to_json(ref), -1);
}

Result<AtypicalReference> read_atypical(const std::string& model_dir, const std::vector<std::string>& classes) {
  const std::string path = (fs::path(model_dir) / kAtypicalFile).string();
  if (!fs::exists(path)) return fail(ErrorCode::kNotFound, path + ": no atypical reference");
  auto j = read_model_json(path, kAtypicalFormat);
  if (!j) return tl::unexpected(j.error());
  auto ref = parse_config<AtypicalReference>(*j, path);
  if (!ref) return ref;
  if (auto s = validate_atypical(*ref, classes, path); !s) return tl::unexpected(s.error());
  return ref;
}

}  // namespace ms
