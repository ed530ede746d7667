#pragma once
// Small tensor helpers for the hand-computed assigner tests.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace ms::test {

// Rows of {x1, y1, x2, y2} -> [N,4] float.
inline at::Tensor boxes(const std::vector<std::vector<float>>& rows) {
  auto t = at::empty({static_cast<int64_t>(rows.size()), 4}, at::kFloat);
  for (size_t i = 0; i < rows.size(); ++i)
    for (int k = 0; k < 4; ++k) t[static_cast<int64_t>(i)][k] = rows[i][static_cast<size_t>(k)];
  return t;
}

// int64 tensor -> vector, for EXPECT_EQ against a literal.
inline std::vector<int64_t> to_vec(const at::Tensor& t) {
  auto c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace ms::test
