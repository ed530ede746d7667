#include "report/differential.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ms {

const std::vector<std::pair<RangeFlag, std::string>>& enum_names(RangeFlag) {
  static const std::vector<std::pair<RangeFlag, std::string>> names{{RangeFlag::kNone, "none"},
                                                                    {RangeFlag::kNormal, "normal"},
                                                                    {RangeFlag::kLow, "low"},
                                                                    {RangeFlag::kHigh, "high"}};
  return names;
}

const DifferentialRow* Differential::row(const std::string& id) const {
  for (const auto& r : rows)
    if (r.id == id) return &r;
  return nullptr;
}

int display_decimals(int cells_counted) { return cells_counted >= 1000 ? 1 : 0; }

double round_to(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  // std::round rounds half away from zero; printf-style formatting alone would round half to
  // even (2.5 -> "2"), which is not how a differential is read.
  const double rounded = std::round(value * scale) / scale;
  return rounded == 0 ? 0.0 : rounded;  // no "-0"
}

std::string format_fixed(double value, int decimals) {
  return fmt::format("{:.{}f}", round_to(value, decimals), decimals);
}

namespace {

double percent_of(int part, int whole) { return 100.0 * part / whole; }

// A value is flagged as it is printed: a blast percentage of 2.4 shown as "2" next to a range of
// 0-2 must not carry an H that the reader cannot reproduce from the page.
RangeFlag flag_for(double shown, const std::optional<ReferenceRange>& range) {
  if (!range) return RangeFlag::kNone;
  if (shown < range->low) return RangeFlag::kLow;
  if (shown > range->high) return RangeFlag::kHigh;
  return RangeFlag::kNormal;
}

constexpr int kRatioDecimals = 2;

CountRatio make_ratio(int numerator, int denominator, const std::optional<ReferenceRange>& range) {
  CountRatio r;
  r.numerator = numerator;
  r.denominator = denominator;
  r.range = range;
  if (denominator == 0) {
    r.display = "n/a";
    return r;
  }
  r.value = static_cast<double>(numerator) / denominator;
  r.display = format_fixed(*r.value, kRatioDecimals) + ":1";
  r.flag = flag_for(round_to(*r.value, kRatioDecimals), range);
  return r;
}

// Far above any manual or automated count; keeps the int sums over a few dozen classes exact.
constexpr int kMaxCount = 10'000'000;

Status check_input(const Taxonomy& t, const DifferentialInput& in) {
  for (const auto& [id, n] : in.counts) {
    if (!t.find(id)) {
      std::string known;
      for (const auto& c : t.classes) known += (known.empty() ? "" : ", ") + c.id;
      return fail(ErrorCode::kInvalidArgument, "counts." + id,
                  "a class of taxonomy \"" + t.name + "\" (" + known + ")", "an unknown class");
    }
    if (n < 0 || n > kMaxCount)
      return fail(ErrorCode::kInvalidArgument, "counts." + id,
                  "a count in [0, " + std::to_string(kMaxCount) + "]", std::to_string(n));
  }
  if (in.unreviewed < 0 || in.unreviewed > kMaxCount)
    return fail(ErrorCode::kInvalidArgument, "unreviewed",
                "a count in [0, " + std::to_string(kMaxCount) + "]", std::to_string(in.unreviewed));
  if (in.count_target && *in.count_target <= 0)
    return fail(ErrorCode::kInvalidArgument, "count_target", "a positive cell count",
                std::to_string(*in.count_target));
  if (!(in.confidence > 0 && in.confidence < 1))
    return fail(ErrorCode::kInvalidArgument, "confidence", "a level in (0, 1)",
                std::to_string(in.confidence));
  return {};
}

constexpr const char* kBand = "band_neutrophil";
constexpr const char* kSegmented = "segmented_neutrophil";
constexpr const char* kNeutrophil = "neutrophil";

bool has(const std::optional<std::set<std::string>>& set, const std::string& id) {
  return set && set->count(id) > 0;
}

// The taxonomy and input with band and segmented neutrophils as one "neutrophil" class in the
// band's place: counts and reference ranges add up (both ranges present), every flag is the
// segmented class's (mature granulocytes: I:Mg denominator, M:E numerator).
Result<std::pair<Taxonomy, DifferentialInput>> combined_neutrophils(const Taxonomy& taxonomy,
                                                                      const DifferentialInput& input) {
  if (taxonomy.find(kNeutrophil))
    return fail(ErrorCode::kInvalidArgument, "combine_neutrophils",
                "a taxonomy without its own \"neutrophil\" class",
                "taxonomy \"" + taxonomy.name + "\" has one");
  Taxonomy t = taxonomy;
  const CellClass band = *taxonomy.find(kBand);
  CellClass merged = *taxonomy.find(kSegmented);
  merged.id = kNeutrophil;
  merged.names = {"Neutrophil (band + segmented)", "中性粒细胞（杆状核 + 分叶核）"};
  merged.order = band.order;
  t.classes.erase(std::remove_if(t.classes.begin(), t.classes.end(),
                                 [](const CellClass& c) { return c.id == kBand || c.id == kSegmented; }),
                  t.classes.end());
  t.classes.push_back(merged);
  for (SpecimenProfile* p : {&t.specimens.bone_marrow, &t.specimens.peripheral_blood}) {
    auto b = p->ranges.find(kBand), s = p->ranges.find(kSegmented);
    if (b != p->ranges.end() && s != p->ranges.end())
      p->ranges[kNeutrophil] = {b->second.low + s->second.low, b->second.high + s->second.high};
    p->ranges.erase(kBand);
    p->ranges.erase(kSegmented);
  }
  DifferentialInput in = input;
  in.combine_neutrophils = false;
  int n = 0;
  for (const char* id : {kBand, kSegmented})
    if (auto it = in.counts.find(id); it != in.counts.end()) {
      n += it->second;
      in.counts.erase(it);
    }
  in.counts[kNeutrophil] = n;
  if (has(in.classifier_classes, kBand) || has(in.classifier_classes, kSegmented))
    in.classifier_classes->insert(kNeutrophil);
  return std::make_pair(std::move(t), std::move(in));
}

}  // namespace

Result<Differential> compute_differential(const Taxonomy& taxonomy,
                                          const DifferentialInput& input) {
  if (auto s = check_input(taxonomy, input); !s) return tl::unexpected(s.error());
  if (input.combine_neutrophils && taxonomy.find(kBand) && taxonomy.find(kSegmented)) {
    auto combined = combined_neutrophils(taxonomy, input);
    if (!combined) return tl::unexpected(combined.error());
    auto d = compute_differential(combined->first, combined->second);
    if (d) d->neutrophils_combined = true;
    return d;
  }
  const SpecimenProfile& profile = taxonomy.profile(input.specimen);
  const bool blood = input.specimen == Specimen::kPeripheralBlood;
  auto count_of = [&](const std::string& id) {
    auto it = input.counts.find(id);
    return it == input.counts.end() ? 0 : it->second;
  };

  Differential d;
  d.specimen = input.specimen;
  d.taxonomy = taxonomy.name;
  d.unreviewed = input.unreviewed;
  int me_numerator = 0, immature = 0, mature = 0;
  for (const CellClass& c : taxonomy.classes) {
    const int n = count_of(c.id);
    if (!c.counted) {
      d.total_excluded += n;
      continue;
    }
    d.total_nucleated += n;
    if (c.is_erythroid) d.erythroid += n;
    if (c.is_blast) d.blasts.count += n;
    if (c.is_abnormal_promyelocyte) {
      d.distinguishes_abnormal_promyelocytes = true;
      d.abnormal_promyelocytes += n;
    }
    if (c.in_me_numerator) me_numerator += n;
    if (c.maturity == MaturityRole::kImmature) immature += n;
    if (c.maturity == MaturityRole::kMature) mature += n;
  }
  d.total_wbc = d.total_nucleated - d.erythroid;
  d.denominator = blood ? d.total_wbc : d.total_nucleated;
  d.decimals = display_decimals(d.denominator);

  for (size_t i : taxonomy.reporting_order()) {
    const CellClass& c = taxonomy.classes[i];
    DifferentialRow r;
    r.id = c.id;
    r.names = c.names;
    r.colour = c.colour;
    r.lineage = c.lineage;
    r.count = count_of(c.id);
    r.counted = c.counted;
    r.review_only = input.classifier_classes && !has(input.classifier_classes, c.id);
    if (auto it = profile.ranges.find(c.id); it != profile.ranges.end()) r.range = it->second;
    if (!c.counted) {
      r.display = std::to_string(r.count);
    } else if (d.denominator == 0) {
      r.display = "-";
    } else {
      const double value = percent_of(r.count, d.denominator);
      (blood && c.is_erythroid ? r.per_100_wbc : r.percent) = value;
      r.display = format_fixed(value, d.decimals);
      r.flag = flag_for(round_to(value, d.decimals), r.range);
    }
    d.rows.push_back(std::move(r));
  }

  if (d.total_nucleated > 0) {
    d.erythroid_percent = percent_of(d.erythroid, d.total_nucleated);
    if (d.distinguishes_abnormal_promyelocytes)
      d.abnormal_promyelocyte_percent = percent_of(d.abnormal_promyelocytes, d.total_nucleated);
    d.blast_percent_of_nucleated = percent_of(d.blasts.count, d.total_nucleated);
  }
  if (d.total_wbc > 0) d.blast_percent_of_non_erythroid = percent_of(d.blasts.count, d.total_wbc);
  // M:E is a marrow ratio; in blood the erythroid side is NRBC per 100 WBC instead.
  if (!blood) d.me_ratio = make_ratio(me_numerator, d.erythroid, profile.me_ratio);
  d.i_mg_ratio = make_ratio(immature, mature, profile.i_mg_ratio);

  d.blasts.method = input.interval_method;
  d.blasts.confidence = input.confidence;
  if (d.denominator > 0) {
    d.blasts.percent = percent_of(d.blasts.count, d.denominator);
    d.blasts.interval =
        proportion_interval(input.interval_method, d.blasts.count, d.denominator, input.confidence);
    d.blasts.display = fmt::format(
        "{} % ({}% CI {}-{} %)", format_fixed(*d.blasts.percent, d.decimals),
        format_fixed(input.confidence * 100, 0), format_fixed(d.blasts.interval->low * 100, 1),
        format_fixed(d.blasts.interval->high * 100, 1));
  } else {
    d.blasts.display = "-";
  }

  if (input.classifier_classes) {
    const bool names_blasts = std::any_of(taxonomy.classes.begin(), taxonomy.classes.end(), [&](const CellClass& c) {
      return c.is_blast && has(input.classifier_classes, c.id);
    });
    d.blasts.assessed = names_blasts || d.blasts.count > 0 || input.unreviewed == 0;
  }

  d.progress.counted = d.denominator;
  d.progress.target = input.count_target.value_or(profile.count_target);
  d.progress.fraction = static_cast<double>(d.progress.counted) / d.progress.target;
  d.progress.reached = d.progress.counted >= d.progress.target;
  return d;
}

Json differential_to_json(const Differential& d) { return config_to_json(d); }

Status validate_differential_snapshot(const Differential& d, const std::string& path) {
  // A stored snapshot drives rendering; keep its numbers within what the renderers expect.
  if (d.decimals < 0 || d.decimals > 3)
    return fail(ErrorCode::kInvalidArgument, path + ".decimals", "0..3",
                std::to_string(d.decimals));
  for (size_t i = 0; i < d.rows.size(); ++i)
    if (d.rows[i].count < 0)
      return fail(ErrorCode::kInvalidArgument, path + ".rows[" + std::to_string(i) + "].count",
                  "a count >= 0", std::to_string(d.rows[i].count));
  return {};
}

Result<Differential> differential_from_json(const Json& j, const std::string& source) {
  auto d = parse_config<Differential>(j, source);
  if (!d) return d;
  if (auto s = validate_differential_snapshot(*d, (source.empty() ? "" : source + ":") + "$"); !s)
    return tl::unexpected(s.error());
  return d;
}

}  // namespace ms
