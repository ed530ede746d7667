#include "report/report_data.h"

#include <fmt/format.h>

#include "core/icsh.h"

namespace ms {

std::string signer_text(const SignOff& s) {
  if (s.username.empty() || s.username == s.signed_by) return s.signed_by;
  if (s.signed_by.empty()) return s.username;
  return s.signed_by + " (" + s.username + ")";
}

int icsh_count_target(Specimen s) { return s == Specimen::kBoneMarrow ? kIcshMarrowCount : kIcshBloodCount; }

const ReviewOnlyMark& review_only_mark() {
  static const ReviewOnlyMark mark{
      "review-only",
      "urn:marrowscope:review-state",
      "\u2020",
      {"review-only class", "仅人工审核类别"},
      {"Review-only class: the classifier cannot name it; its cells were named by a reviewer.",
       "仅人工审核类别：分类模型不能识别该类别，其细胞均由审核人员判定。"}};
  return mark;
}

bool has_review_only_rows(const Differential& d) {
  for (const auto& row : d.rows)
    if (row.review_only) return true;
  return false;
}

std::vector<DisplayNames> report_statements(const ReportData& r) {
  std::vector<DisplayNames> out;
  const Differential& d = r.differential;
  const bool marrow = d.specimen == Specimen::kBoneMarrow;
  const int icsh = icsh_count_target(d.specimen);
  DisplayNames count{
      fmt::format("Count target: {} {}; counted {}: {}.", d.progress.target,
                  marrow ? "nucleated cells" : "white cells", d.progress.counted,
                  d.progress.reached ? "target reached" : "BELOW the target"),
      fmt::format("计数目标：{} 个{}；已计数 {} 个：{}。", d.progress.target, marrow ? "有核细胞" : "白细胞",
                  d.progress.counted, d.progress.reached ? "已达到目标" : "未达到目标")};
  if (d.progress.target < icsh) {
    count.en += fmt::format(" The target is below the ICSH recommendation of {} cells.", icsh);
    count.zh += fmt::format("该目标低于 ICSH 推荐的 {} 个细胞。", icsh);
  }
  out.push_back(std::move(count));
  if (r.review)
    out.push_back(
        {fmt::format("Review: {} cells confirmed by a doctor, {} pre-verified by a technician, {} "
                     "reclassified but not verified, {} the model's suggestion only.",
                     r.review->doctor, r.review->technician, r.review->reclassified, r.review->model_only),
         fmt::format("审核：医师确认 {} 个，技师预审 {} 个，已改类未核实 {} 个，仅模型建议 {} 个。",
                     r.review->doctor, r.review->technician, r.review->reclassified, r.review->model_only)});
  if (!r.models.empty()) {
    std::string list;
    for (const auto& m : r.models) list += (list.empty() ? "" : "; ") + m;
    out.push_back({"Models: " + list + ".", "模型：" + list + "。"});
  }
  if (r.domain_warning) out.push_back(*r.domain_warning);
  return out;
}

Json report_to_json(const ReportData& report) { return config_to_json(report); }

Result<ReportData> report_from_json(const Json& j, const std::string& source) {
  auto r = parse_config<ReportData>(j, source);
  if (!r) return r;
  const std::string path = (source.empty() ? "" : source + ":") + "$.differential";
  if (auto s = validate_differential_snapshot(r->differential, path); !s)
    return tl::unexpected(s.error());
  return r;
}

}  // namespace ms
