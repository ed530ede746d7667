#include <gtest/gtest.h>

#include "core/box.h"

namespace ms {
namespace {

TEST(Box, IouOfHalfOverlap) {
  // [0,10]x[0,10] and [5,15]x[0,10]: intersection 50, union 150.
  EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.f / 150.f);
  EXPECT_FLOAT_EQ(iou({0, 0, 10, 10}, {20, 20, 30, 30}), 0.f);
  EXPECT_FLOAT_EQ(iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.f);
}

TEST(Box, GiouPenalisesDistance) {
  // Disjoint boxes: IoU 0, enclosing box 30x10=300, union 200 -> GIoU = -100/300.
  EXPECT_FLOAT_EQ(giou({0, 0, 10, 10}, {20, 0, 30, 10}), -1.f / 3.f);
  EXPECT_FLOAT_EQ(giou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.f);
}

TEST(Box, LetterboxInverseUndoesForward) {
  const Letterbox lb = make_letterbox(640, 480, 320, 320);
  EXPECT_FLOAT_EQ(lb.scale, 0.5f);
  EXPECT_FLOAT_EQ(lb.pad_x, 0.f);
  EXPECT_FLOAT_EQ(lb.pad_y, 40.f);
  const Box b{100, 50, 300, 400};
  const Box f = lb.forward(b);
  EXPECT_FLOAT_EQ(f.y1, 65.f);
  const Box r = lb.inverse(f);
  EXPECT_NEAR(r.x1, b.x1, 1e-4);
  EXPECT_NEAR(r.y2, b.y2, 1e-4);
}

}  // namespace
}  // namespace ms
