#include "engine/detector/detector_dataset.h"

#include <random>

#include "core/image.h"

namespace ms {

Result<DetectorDataset> DetectorDataset::prepare(const FieldDataset& ds, int input_size, int max_fields) {
  if (input_size <= 0)
    return fail(ErrorCode::kInvalidArgument, "input_size", "a positive size", std::to_string(input_size));
  DetectorDataset out;
  out.classes_ = ds.classes;
  out.input_size_ = input_size;
  const size_t n = max_fields > 0 ? std::min(ds.fields.size(), static_cast<size_t>(max_fields))
                                  : ds.fields.size();
  out.fields_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const Field& f = ds.fields[i];
    auto img = read_image(f.image_path);
    if (!img) return tl::unexpected(img.error());
    PreparedField p;
    p.image_path = f.image_path;
    p.letterbox = make_letterbox(img->cols, img->rows, input_size, input_size);
    p.image = letterbox_image(*img, p.letterbox);
    for (const auto& b : f.boxes) {
      if (b.class_id < 0 || b.class_id >= static_cast<int>(ds.classes.size()))
        return fail(ErrorCode::kInvalidArgument, f.image_path, "box class ids below " + std::to_string(ds.classes.size()),
                    std::to_string(b.class_id));
      const Box clipped = clip_box(b.box, static_cast<float>(img->cols), static_cast<float>(img->rows));
      if (!clipped.valid()) continue;
      p.truth.push_back({clipped, b.class_id, 1.f});
      p.boxes.push_back(p.letterbox.forward(clipped));
      p.labels.push_back(b.class_id);
    }
    for (const auto& b : f.ignore) {
      const Box clipped = clip_box(b, static_cast<float>(img->cols), static_cast<float>(img->rows));
      if (!clipped.valid()) continue;
      p.ignore_truth.push_back(clipped);
      p.ignore.push_back(p.letterbox.forward(clipped));
    }
    for (int k : f.annotated_classes)
      if (k < 0 || k >= static_cast<int>(ds.classes.size()))
        return fail(ErrorCode::kInvalidArgument, f.image_path, "annotated class ids below " + std::to_string(ds.classes.size()),
                    std::to_string(k));
    p.annotated_classes = f.annotated_classes;
    out.fields_.push_back(std::move(p));
  }
  return out;
}

Status DetectorDataset::append(DetectorDataset other) {
  if (other.classes_ != classes_ || other.input_size_ != input_size_)
    return fail(ErrorCode::kInvalidArgument, "appended fields", "the same classes and input size",
                std::to_string(other.classes_.size()) + " classes at " + std::to_string(other.input_size_) + " px");
  for (auto& f : other.fields_) fields_.push_back(std::move(f));
  return {};
}

AugmentSample DetectorDataset::sample(size_t i, const AugmentOptions& options, uint64_t seed, int epoch,
                                      bool augment) const {
  const PreparedField& f = fields_.at(i);
  AugmentSample s{f.image, f.boxes, f.labels};
  for (const auto& b : f.ignore) {
    s.boxes.push_back(b);
    s.labels.push_back(kIgnoreBoxLabel);
  }
  if (!augment) return s;
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(epoch), static_cast<uint32_t>(i)};
  std::mt19937 rng(seq);
  return random_augment(s, options, rng);
}

}  // namespace ms
