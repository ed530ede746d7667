#include "server/domain_stain.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/classifier/classifier_model_file.h"
#include "server/classifier_host.h"
#include "store/cell_store.h"
#include "store/image_store.h"

namespace ms::server {

namespace {

constexpr const char* kChannel[3] = {"red", "green", "blue"};
constexpr std::size_t kMemoSamples = 1000;  // bounded memory: forgotten all at once beyond this

std::string rgb255(const float* v) {
  return fmt::format("({:.0f}, {:.0f}, {:.0f})", v[0] * 255, v[1] * 255, v[2] * 255);
}
std::string triple(const float* v) { return fmt::format("{:.2f} / {:.2f} / {:.2f}", v[0], v[1], v[2]); }

Json rounded(const float* v, double scale) {
  Json a = Json::array();
  for (int c = 0; c < 3; ++c) a.push_back(std::round(v[c] * scale) / scale);
  return a;
}

}  // namespace

std::vector<DisplayNames> stain_differences(const StainMeasure& s, const StainStandardisation& ref,
                                            const StainTolerance& t) {
  constexpr const char* kChannelZh[3] = {"红", "绿", "蓝"};
  std::vector<DisplayNames> out;
  std::string bg_en, bg_zh, od_en, od_zh;
  for (int c = 0; c < 3; ++c) {
    const double rel = (s.background[c] - ref.background[c]) / ref.background[c];
    if (std::fabs(rel) > t.background) {
      bg_en += fmt::format("{}{} {:+.0f}%", bg_en.empty() ? "" : ", ", kChannel[c], 100 * rel);
      bg_zh += fmt::format("{}{} {:+.0f}%", bg_zh.empty() ? "" : "，", kChannelZh[c], 100 * rel);
    }
    const double ratio = s.od_quantile[c] / std::max(1e-3f, ref.od_p99[c]);
    if (ratio > t.od_ratio || ratio < 1 / t.od_ratio) {
      od_en += fmt::format("{}{} x{:.2f}", od_en.empty() ? "" : ", ", kChannel[c], ratio);
      od_zh += fmt::format("{}{} x{:.2f}", od_zh.empty() ? "" : "，", kChannelZh[c], ratio);
    }
  }
  const float* ref_bg = ref.background.data();
  const float* ref_od = ref.od_p99.data();
  if (!bg_en.empty())
    out.push_back({fmt::format("The background colour differs from the training lab's: RGB {} against {} ({}): "
                               "another camera white balance, light or mounting medium.",
                               rgb255(s.background), rgb255(ref_bg), bg_en),
                   fmt::format("背景颜色与训练实验室不同：RGB {} 对比 {}（{}）：相机白平衡、光源或封片介质不同。",
                               rgb255(s.background), rgb255(ref_bg), bg_zh)});
  if (!od_en.empty())
    out.push_back({fmt::format("The nuclear stain differs from the training lab's: optical density red / green / "
                               "blue {} against {} ({}): another stain, staining time or smear thickness.",
                               triple(s.od_quantile), triple(ref_od), od_en),
                   fmt::format("细胞核染色与训练实验室不同：红/绿/蓝光密度 {} 对比 {}（{}）：染料、染色时间或涂片厚度"
                               "不同。",
                               triple(s.od_quantile), triple(ref_od), od_zh)});
  return out;
}

Json SampleStain::to_json() const {
  return {{"cells", cells},
          {"background", rounded(median.background, 1000)},
          {"nuclear_od", rounded(median.od_quantile, 1000)},
          {"reference_background", rounded(reference.background.data(), 1000)},
          {"reference_nuclear_od", rounded(reference.od_p99.data(), 1000)},
          {"differences", [&] {
             Json a = Json::array();
             for (const auto& d : differences) a.push_back(d.en);
             return a;
           }()}};
}

SampleStainCheck::SampleStainCheck(store::Database& db, std::shared_ptr<CellCrops> crops, Reference reference)
    : db_(db), crops_(std::move(crops)), reference_(std::move(reference)) {}

Result<std::optional<SampleStain>> SampleStainCheck::check(std::int64_t sample_id) {
  auto ref = reference_();
  if (!ref) return std::optional<SampleStain>();
  store::CellQuery all;
  all.sample_id = sample_id;
  MS_ASSIGN_OR_RETURN(const std::int64_t cells, db_.transact(store::TxMode::kRead, [&](store::Tx& tx) {
    return store::count_cells(tx, all);
  }));
  if (cells <= 0) return std::optional<SampleStain>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = memo_.find(sample_id);
    if (it != memo_.end() && std::get<0>(it->second) == cells && std::get<1>(it->second) == ref->first)
      return std::get<2>(it->second);
  }
  // kCells cells spread evenly over the sample's list, with their images.
  using Picked = std::vector<std::pair<store::Image, store::Cell>>;
  MS_ASSIGN_OR_RETURN(auto picked, db_.transact(store::TxMode::kRead, [&](store::Tx& tx) -> Result<Picked> {
    Picked p;
    std::map<std::int64_t, store::Image> images;
    MS_ASSIGN_OR_RETURN(auto spread, store::spread_cells(tx, sample_id, kCells));
    for (auto& cell : spread) {
      auto im = images.find(cell.image_id);
      if (im == images.end()) {
        MS_ASSIGN_OR_RETURN(auto image, store::get_image(tx, cell.image_id));
        im = images.emplace(image.id, std::move(image)).first;
      }
      p.emplace_back(im->second, std::move(cell));
    }
    return p;
  }));
  std::vector<float> bg[3], od[3];
  const StainStandardisation thresholds = ref->second;
  for (const auto& [image, cell] : picked) {
    auto crop = crops_->crop(image, cell);
    if (!crop || crop->empty()) continue;  // a missing or unreadable file: measure the others
    const StainMeasure m = measure_stain(*crop, thresholds);
    for (int c = 0; c < 3; ++c) {
      bg[c].push_back(m.background[c]);
      od[c].push_back(m.od_quantile[c]);
    }
  }
  std::optional<SampleStain> out;
  if (!bg[0].empty()) {
    SampleStain s;
    s.cells = static_cast<int>(bg[0].size());
    s.reference = ref->second;
    for (int c = 0; c < 3; ++c) {
      for (auto* v : {&bg[c], &od[c]}) std::nth_element(v->begin(), v->begin() + (v->size() - 1) / 2, v->end());
      s.median.background[c] = bg[c][(bg[c].size() - 1) / 2];
      s.median.od_quantile[c] = od[c][(od[c].size() - 1) / 2];
    }
    s.differences = stain_differences(s.median, s.reference);
    out = std::move(s);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (memo_.size() >= kMemoSamples) memo_.clear();
  memo_[sample_id] = {cells, ref->first, out};
  return out;
}

Json domain_json(const DomainCheck& d, SampleStainCheck* stain, std::int64_t sample_id) {
  Json j = d.to_json();
  if (stain == nullptr) return j;
  auto st = stain->check(sample_id);
  if (!st) {
    spdlog::warn("sample {}: stain not measured: {}", sample_id, st.error().message);
    return j;
  }
  if (!st->has_value()) return j;
  j["stain"] = (*st)->to_json();
  if (d.outside)
    for (const auto& r : (*st)->differences) j["reasons"].push_back(r.en);
  return j;
}

std::vector<DisplayNames> stain_report_lines(SampleStainCheck* stain, std::int64_t sample_id) {
  if (stain == nullptr) return {};
  auto st = stain->check(sample_id);
  if (!st) {
    spdlog::warn("sample {}: stain not measured: {}", sample_id, st.error().message);
    return {};
  }
  return st->has_value() ? (*st)->differences : std::vector<DisplayNames>{};
}

SampleStainCheck::Reference classifier_stain_reference(ClassifierHost* host) {
  struct Last {
    std::mutex mu;
    std::string dir;
    std::optional<StainStandardisation> stain;
  };
  auto last = std::make_shared<Last>();
  return [host, last]() -> std::optional<std::pair<std::string, StainStandardisation>> {
    if (host == nullptr) return std::nullopt;
    const std::string dir = host->classifier_dir();
    std::lock_guard<std::mutex> lock(last->mu);
    if (dir != last->dir) {
      auto info = read_classifier_model_info(dir);
      last->stain = info ? info->stain_reference() : std::nullopt;
      last->dir = dir;
    }
    if (!last->stain) return std::nullopt;
    return std::make_pair(dir, *last->stain);
  };
}

}  // namespace ms::server
