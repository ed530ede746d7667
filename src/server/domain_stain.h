#pragma once
// What differs between a sample's stain and the classifier's training lab's: the background colour
// (the camera's white balance and light) and the darkest stain, the nuclei (stain, staining time,
// thickness), measured on the crops the classifier saw (engine/train/stain_standardise.h) and
// compared with the reference written into the classifier's model folder. It tells a reviewer why
// a sample's cells look unfamiliar to the classifier, not only that they do.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/config.h"
#include "engine/train/stain_standardise.h"
#include "report/domain_check.h"
#include "report/taxonomy.h"
#include "server/cell_crops.h"
#include "store/database.h"

namespace ms::server {

struct StainTolerance {
  double background = 0.08;  // relative difference of one background channel
  double od_ratio = 1.5;     // ratio (either way) of one channel's nuclear optical density
};

struct SampleStain {
  int cells = 0;        // cells measured
  StainMeasure median;  // per channel, over the measured cells
  StainStandardisation reference;
  std::vector<DisplayNames> differences;  // in words (English, Chinese); empty when alike
  Json to_json() const;
};

// The differences in words, channel by channel against the tolerances.
std::vector<DisplayNames> stain_differences(const StainMeasure& sample, const StainStandardisation& ref,
                                           const StainTolerance& t = {});

class SampleStainCheck {
 public:
  // reference: the classifier in use's training-lab reference and a key naming that classifier;
  // nullopt when it has none (a model trained without stain standardisation).
  using Reference = std::function<std::optional<std::pair<std::string, StainStandardisation>>()>;
  static constexpr int kCells = 40;  // cells measured per sample, spread over its cell list

  SampleStainCheck(store::Database& db, std::shared_ptr<CellCrops> crops, Reference reference);
  // nullopt when the classifier has no reference or no cell could be measured. Remembered per
  // sample, cell count and classifier, so repeated summaries of an unchanged sample cost nothing.
  Result<std::optional<SampleStain>> check(std::int64_t sample_id);

 private:
  store::Database& db_;
  std::shared_ptr<CellCrops> crops_;
  Reference reference_;
  std::mutex mu_;
  std::map<std::int64_t, std::tuple<std::int64_t, std::string, std::optional<SampleStain>>> memo_;
};

// The domain check's JSON for a sample, with its stain ("stain", when measured) and, when the
// sample is outside the domain, what differs in the stain appended to the reasons. A failure to
// measure leaves the stain out (logged), never the check.
Json domain_json(const DomainCheck& d, SampleStainCheck* stain, std::int64_t sample_id);
// What differs in a sample's stain, for its report (empty when alike, unmeasured or no check).
std::vector<DisplayNames> stain_report_lines(SampleStainCheck* stain, std::int64_t sample_id);

class ClassifierHost;
// The reference of the classifier `host` uses now (re-read when an admin switches classifiers);
// nothing without a host.
SampleStainCheck::Reference classifier_stain_reference(ClassifierHost* host);

}  // namespace ms::server
