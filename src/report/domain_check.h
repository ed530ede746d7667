#pragma once
// Is a sample inside the classifier's domain? A classifier trained on one lab's cells is reliable
// on cells that look like them; another stain, camera or preparation makes many cells look unlike
// every training cell, and their classes are then guesses however confident the model is. The
// atypical score (engine/classifier/atypical.h) is calibrated so that a given share of the
// training lab's own cells reach the flag threshold (5% at 0.95); a sample where several times
// that share do is outside the domain, and the sample, its gallery and its report say so.
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace ms {

struct DomainStats {
  std::int64_t cells = 0;     // cells of the sample
  std::int64_t scored = 0;    // of them with an atypical score (the classifier had a reference)
  std::int64_t atypical = 0;  // of them flagged as atypical
};

struct DomainCheckOptions {
  double expected_share = 0.05;  // share of the training lab's cells flagged as atypical
  double factor = 4.0;           // outside when the sample's share is at least this many times it
  std::int64_t min_scored = 20;  // fewer scored cells say nothing either way
};

struct DomainCheck {
  bool known = false;            // enough scored cells to judge
  bool outside = false;
  double atypical_share = 0;     // of the scored cells
  double expected_share = 0;
  std::vector<std::string> reasons;  // what differs, in words, when outside
  Json to_json() const;
};

DomainCheck check_domain(const DomainStats& s, const DomainCheckOptions& o = {});

}  // namespace ms
