#include "report/domain_check.h"

#include <cmath>

#include <fmt/format.h>

namespace ms {

DomainCheck check_domain(const DomainStats& s, const DomainCheckOptions& o) {
  DomainCheck d;
  d.expected_share = o.expected_share;
  if (s.scored <= 0) return d;
  d.atypical_share = static_cast<double>(s.atypical) / static_cast<double>(s.scored);
  d.known = s.scored >= o.min_scored;
  if (!d.known) return d;
  d.outside = d.atypical_share >= o.factor * o.expected_share;
  if (d.outside)
    d.reasons.push_back(fmt::format(
        "{} of {} cells ({:.0f}%) look unlike every cell the classifier was trained on (about {:.0f}% of its "
        "training lab's cells do): another stain, camera, magnification or preparation. Suggested classes may "
        "be wrong however confident they look; review every cell, or adapt the classifier to this lab.",
        s.atypical, s.scored, 100.0 * d.atypical_share, 100.0 * o.expected_share));
  return d;
}

Json DomainCheck::to_json() const {
  return {{"known", known},
          {"outside", outside},
          {"atypical_share", std::round(atypical_share * 1e4) / 1e4},
          {"expected_share", expected_share},
          {"reasons", reasons}};
}

}  // namespace ms
