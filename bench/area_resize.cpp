// OpenCV's INTER_AREA against ms::resize_area (core/area_resize.h) on the sizes the models see:
// a 360 px cell crop to the classifier's 146 px cache side, and a 575 px txl-pbc field to the
// detector's 384 px input. One thread each (cv::setNumThreads(1)); the pair's ratio is the number.
//
//   build/bench_area_resize
#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/area_resize.h"

namespace {

cv::Mat textured(int side) {
  cv::Mat img(side, side, CV_8UC3);
  cv::RNG rng(1);
  rng.fill(img, cv::RNG::UNIFORM, 0, 256);
  return img;
}

// state.range(0): source side; range(1): target side; range(2): 0 OpenCV, 1 resize_area.
void BM_AreaResize(benchmark::State& state) {
  cv::setNumThreads(1);
  const cv::Mat src = textured(static_cast<int>(state.range(0)));
  const cv::Size size(static_cast<int>(state.range(1)), static_cast<int>(state.range(1)));
  cv::Mat dst;
  for (auto _ : state) {
    if (state.range(2) == 0)
      cv::resize(src, dst, size, 0, 0, cv::INTER_AREA);
    else
      ms::resize_area(src, dst, size);
    benchmark::DoNotOptimize(dst.data);
  }
  state.SetLabel(state.range(2) == 0 ? "opencv INTER_AREA" : "ms::resize_area");
}
BENCHMARK(BM_AreaResize)->Args({360, 146, 0})->Args({360, 146, 1})->Args({575, 384, 0})->Args({575, 384, 1});

}  // namespace

BENCHMARK_MAIN();
