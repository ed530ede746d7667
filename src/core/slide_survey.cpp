#include "core/slide_survey.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace ms {
namespace {

double ramp(double v, double from, double to) { return std::clamp((v - from) / (to - from), 0.0, 1.0); }

// The slide's own glass: per channel, the 97th percentile of the overview's values. Labs'
// backgrounds differ (white, grey, pink or yellow plasma), so "glass" is judged against this.
struct Reference {
  double bgr[3] = {255, 255, 255};
};

struct Histogram {
  std::int64_t counts[3][256] = {};
  std::int64_t total = 0;
  void add(const cv::Mat& bgr) {
    for (int y = 0; y < bgr.rows; ++y) {
      const auto* p = bgr.ptr<cv::Vec3b>(y);
      for (int x = 0; x < bgr.cols; ++x)
        for (int c = 0; c < 3; ++c) ++counts[c][p[x][c]];
    }
    total += std::int64_t(bgr.total());
  }
  Reference reference() const {
    Reference r;
    for (int c = 0; c < 3; ++c) {
      std::int64_t seen = 0;
      for (int v = 0; v < 256; ++v) {
        seen += counts[c][v];
        if (double(seen) >= 0.97 * double(total)) {
          r.bgr[c] = std::max(v, 32);
          break;
        }
      }
    }
    return r;
  }
};

// Per pixel, the optical density against the glass, summed over the channels: covered where it
// reaches kCoveredOd (a pale red cell's centre does), a stained nucleus where it reaches
// kNucleusOd and the pixel lets through more blue than red (nuclei are blue-purple; red cells,
// which absorb blue and green, are pink).
constexpr double kCoveredOd = 0.12, kNucleusOd = 0.45, kBlueOverRed = 0.03;

void measure(const cv::Mat& bgr, const Reference& ref, double& cover, double& nuclei) {
  double od_of[3][256];
  double t_of[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) {
      const double t = std::min(1.0, std::max(1.0, double(v)) / ref.bgr[c]);
      t_of[c][v] = t;
      od_of[c][v] = -std::log10(t);
    }
  std::int64_t covered = 0, nuc = 0;
  for (int y = 0; y < bgr.rows; ++y) {
    const auto* p = bgr.ptr<cv::Vec3b>(y);
    for (int x = 0; x < bgr.cols; ++x) {
      const double od = od_of[0][p[x][0]] + od_of[1][p[x][1]] + od_of[2][p[x][2]];
      if (od < kCoveredOd) continue;
      ++covered;
      if (od >= kNucleusOd && t_of[0][p[x][0]] > t_of[2][p[x][2]] + kBlueOverRed) ++nuc;
    }
  }
  const double n = std::max<double>(1, double(bgr.total()));
  cover = double(covered) / n;
  nuclei = double(nuc) / n;
}

// Measures one square's pixels and records its cover, nuclei and score.
void score_square(SlideSurvey& s, int r, int c, const cv::Mat& px, const Reference& ref, const SurveyOptions& o);

std::int64_t square_side(const SlideReader& slide, const SurveyOptions& o) {
  std::int64_t side = slide.mpp() > 0 ? std::int64_t(std::llround(o.square_um / slide.mpp())) : o.square_px;
  side = std::max<std::int64_t>(side, 64);
  const std::int64_t longer = std::max(slide.width(), slide.height());
  const std::int64_t at_most = (longer + o.max_squares_per_side - 1) / o.max_squares_per_side;
  return std::max(side, at_most);
}

void propose(SlideSurvey& s, const SurveyOptions& o) {
  const int k = std::max(1, std::min({o.area_squares, s.cols, s.rows}));
  std::vector<char> taken(s.scores.size(), 0);
  while (int(s.areas.size()) < o.max_areas) {
    double best = -1;
    int bx = -1, by = -1;
    for (int y = 0; y + k <= s.rows; ++y)
      for (int x = 0; x + k <= s.cols; ++x) {
        double sum = 0;
        bool free = true;
        for (int dy = 0; dy < k && free; ++dy)
          for (int dx = 0; dx < k; ++dx) {
            const size_t i = size_t(y + dy) * size_t(s.cols) + size_t(x + dx);
            if (taken[i]) {
              free = false;
              break;
            }
            sum += s.scores[i];
          }
        if (free && sum > best) {
          best = sum;
          bx = x;
          by = y;
        }
      }
    if (bx < 0 || best / (k * k) < o.min_area_score) break;
    for (int dy = 0; dy < k; ++dy)
      for (int dx = 0; dx < k; ++dx) taken[size_t(by + dy) * size_t(s.cols) + size_t(bx + dx)] = 1;
    SlideSurvey::Area a;
    a.x = bx * s.square_w;
    a.y = by * s.square_h;
    a.w = std::min(s.width, a.x + k * s.square_w) - a.x;
    a.h = std::min(s.height, a.y + k * s.square_h) - a.y;
    a.score = float(best / (k * k));
    s.areas.push_back(a);
  }
}

SlideSurvey empty_grid(std::int64_t width, std::int64_t height, std::int64_t square) {
  SlideSurvey s;
  s.width = width;
  s.height = height;
  s.square_w = s.square_h = square;
  s.cols = int((width + square - 1) / square);
  s.rows = int((height + square - 1) / square);
  const size_t n = size_t(s.cols) * size_t(s.rows);
  s.scores.assign(n, 0.f);
  s.cover.assign(n, 0.f);
  s.nuclei.assign(n, 0.f);
  return s;
}

}  // namespace

float survey_score(double cover, double nuclei, const SurveyOptions& o) {
  const double cover_term = std::min(ramp(cover, o.glass, o.low), 1.0 - ramp(cover, o.high, o.thick));
  const double white = std::min(1.0, nuclei / o.nuclei_full);
  return float(std::clamp(cover_term * white, 0.0, 1.0));
}

namespace {
void score_square(SlideSurvey& s, int r, int c, const cv::Mat& px, const Reference& ref, const SurveyOptions& o) {
  double cover = 0, nuclei = 0;
  measure(px, ref, cover, nuclei);
  const size_t i = size_t(r) * size_t(s.cols) + size_t(c);
  s.cover[i] = float(cover);
  s.nuclei[i] = float(nuclei);
  s.scores[i] = survey_score(cover, nuclei, o);
}
}  // namespace

SlideSurvey survey_overview(const cv::Mat& overview, double downsample, std::int64_t width, std::int64_t height,
                            std::int64_t square, const SurveyOptions& o) {
  SlideSurvey s = empty_grid(width, height, square);
  Histogram hist;
  hist.add(overview);
  const Reference ref = hist.reference();
  for (int r = 0; r < s.rows; ++r)
    for (int c = 0; c < s.cols; ++c) {
      const int x0 = int(std::floor(double(c * square) / downsample));
      const int y0 = int(std::floor(double(r * square) / downsample));
      const int x1 = std::min(overview.cols, int(std::ceil(double(std::min(width, (c + 1) * square)) / downsample)));
      const int y1 = std::min(overview.rows, int(std::ceil(double(std::min(height, (r + 1) * square)) / downsample)));
      if (x1 <= x0 || y1 <= y0) continue;
      score_square(s, r, c, overview(cv::Rect(x0, y0, x1 - x0, y1 - y0)), ref, o);
    }
  propose(s, o);
  return s;
}

Result<SlideSurvey> survey_slide(const SlideReader& slide, const SurveyOptions& o) {
  const std::int64_t square = square_side(slide, o);
  const double downsample = double(square) / o.overview_px_per_square;
  const int ow = std::max(1, int(std::ceil(double(slide.width()) / downsample)));
  const int oh = std::max(1, int(std::ceil(double(slide.height()) / downsample)));
  auto whole = slide.read_scaled(0, 0, slide.width(), slide.height(), ow, oh);
  if (whole) return survey_overview(*whole, downsample, slide.width(), slide.height(), square, o);
  if (whole.error().code != ErrorCode::kTooLarge) return tl::unexpected(whole.error());
  // No level coarse enough for one read: square by square, each a bounded read, twice (the
  // first pass finds the glass's colour, the second measures against it).
  SlideSurvey s = empty_grid(slide.width(), slide.height(), square);
  Histogram hist;
  Reference ref;
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) ref = hist.reference();
    for (int r = 0; r < s.rows; ++r)
      for (int c = 0; c < s.cols; ++c) {
        const std::int64_t x = c * square, y = r * square;
        const std::int64_t w = std::min(square, slide.width() - x), h = std::min(square, slide.height() - y);
        const int pw = std::max(1, int(std::lround(double(w) / downsample)));
        const int ph = std::max(1, int(std::lround(double(h) / downsample)));
        auto px = slide.read_scaled(x, y, w, h, pw, ph);
        if (!px) return tl::unexpected(px.error());
        if (pass == 0) {
          hist.add(*px);
          continue;
        }
        score_square(s, r, c, *px, ref, o);
      }
  }
  propose(s, o);
  return s;
}

}  // namespace ms
