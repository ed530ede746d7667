#pragma once
// Shrinking an 8-bit image by pixel-area averaging (OpenCV's INTER_AREA), faster for the
// classifier's crops. At a non-integer ratio (a 360 px cell crop to 146 px is 2.47x) OpenCV
// 4.6 walks every source pixel with per-pixel weight tables, about 0.44 ms a crop on this
// machine: half of what preprocessing a batch of cells cost. The same weights applied
// separably, rows first over whole contiguous lines, give its values (at most 1 level apart,
// from the order of float sums) in about a third of the time.
#include <opencv2/core.hpp>

namespace ms {

// Resizes src to `size` with INTER_AREA semantics. Takes the separable path for 8-bit
// 1-, 3- or 4-channel images shrunk on both axes by a non-integer ratio; anything else
// (enlarging, integer ratios, where OpenCV's own fast path is quicker, other depths) goes to
// cv::resize with INTER_AREA.
void resize_area(const cv::Mat& src, cv::Mat& dst, cv::Size size);

// The resize the models' inputs use: area averaging (resize_area) when either side shrinks,
// bilinear when the image is enlarged or kept.
void resize_for_model(const cv::Mat& src, cv::Mat& dst, cv::Size size);

}  // namespace ms
