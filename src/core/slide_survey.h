#pragma once
// Where on a slide to count: a low-resolution pass over the whole slide scores a grid of squares
// by how countable they are, and proposes the best areas. A good counting area (ICSH; the
// monolayer of a smear or marrow film) has red cells side by side but not overlapping, and white
// cells in it: not the empty glass or the feathered edge (little covered), not the thick part or
// a particle (nearly all covered), and not a stretch without nucleated cells.
//
// Per square, from the overview's pixels against the slide's own glass colour (the 97th
// percentile of each channel: labs' backgrounds are white, grey, pink or yellow): `cover` is the
// share of pixels whose optical density reaches that of a pale red cell, `nuclei` the share that
// are dense and blue-purple (Romanowsky-stained nuclei; red cells are pink). score =
// cover_term(cover) * min(1, nuclei / nuclei_full), in [0, 1], where cover_term is 1 on the
// monolayer band and falls to 0 on the glass and thick sides. It is a heuristic for proposing
// areas the reviewer accepts or changes, not a measurement.
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "core/error.h"
#include "core/slide_reader.h"

namespace ms {

struct SurveyOptions {
  double square_um = 250;              // side of a grid square, where the slide states its scale
  std::int64_t square_px = 1024;       // level-0 pixels, where it does not
  int max_squares_per_side = 200;      // larger slides get larger squares
  // Overview pixels per square side: a red cell must stay a few pixels wide (at 0.25 um/px and
  // 1000-px squares, about 4), else glass and cells blend into one pale colour.
  int overview_px_per_square = 128;
  // Cover band: 0 below `glass`, rising to 1 at `low`, 1 up to `high`, 0 again at `thick`.
  double glass = 0.1, low = 0.25, high = 0.8, thick = 0.95;
  // This share of nuclear pixels counts as "enough white cells": about two white cells in a
  // 250 um square.
  double nuclei_full = 0.002;
  int area_squares = 2;                // a proposed area is this many squares a side
  int max_areas = 6;
  double min_area_score = 0.3;         // mean score of a proposed area's squares
};

struct SlideSurvey {
  std::int64_t width = 0, height = 0;      // the slide's level 0
  int cols = 0, rows = 0;                  // grid
  std::int64_t square_w = 0, square_h = 0; // level-0 pixels per square (the last row/column may be cut)
  std::vector<float> scores;               // rows * cols, row-major, in [0, 1]
  std::vector<float> cover, nuclei;        // the two measurements behind each score
  struct Area {
    std::int64_t x = 0, y = 0, w = 0, h = 0;  // level-0 pixels, inside the slide
    float score = 0;
  };
  std::vector<Area> areas;  // best first, not overlapping
};

// The score of one square from its two measurements.
float survey_score(double cover, double nuclei, const SurveyOptions& options = {});

// Scores an overview already read (BGR, `downsample` level-0 pixels per overview pixel) of a
// slide of width x height level-0 pixels, on a grid of `square` level-0 pixels.
SlideSurvey survey_overview(const cv::Mat& overview_bgr, double downsample, std::int64_t width, std::int64_t height,
                            std::int64_t square, const SurveyOptions& options = {});

// Reads the slide at low resolution (one read when its pyramid allows, else square by square, so
// memory is bounded whatever the slide) and scores it.
Result<SlideSurvey> survey_slide(const SlideReader& slide, const SurveyOptions& options = {});

}  // namespace ms
