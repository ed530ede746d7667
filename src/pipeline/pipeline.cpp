#include "pipeline/pipeline.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <numeric>
#include <thread>

#include "engine/predict/classifier_predictor.h"
#include "engine/predict/detector_predictor.h"
#include "pipeline/tiling.h"

namespace ms {

float entropy_nats(const std::vector<float>& probs) {
  double h = 0;
  for (float p : probs)
    if (p > 0) h -= double(p) * std::log(double(p));
  return static_cast<float>(h);
}

Pipeline::Pipeline(std::shared_ptr<DetectorPredictor> detector,
                   std::shared_ptr<ClassifierPredictor> classifier, PipelineOptions options)
    : detector_(std::move(detector)), classifier_(std::move(classifier)), options_(std::move(options)) {
  MS_CHECK(detector_ && classifier_, "pipeline needs both models");
  const auto& names = detector_->classes();
  for (const auto& wanted : options_.cell_classes) {
    auto it = std::find(names.begin(), names.end(), wanted);
    if (it == names.end())
      throw MarrowError(ErrorCode::kInvalidArgument,
                        "pipeline.cell_classes: expected a detector class, found \"" + wanted + "\"");
    cell_class_ids_.push_back(static_cast<int>(it - names.begin()));
  }
  options_.detect_batch = std::max(1, options_.detect_batch);
  options_.classify_batch = std::max(1, options_.classify_batch);
  options_.prefetch = std::max(1, options_.prefetch);
}

Result<std::unique_ptr<Pipeline>> Pipeline::load(const std::string& detector_dir,
                                                 const std::string& classifier_dir,
                                                 PipelineOptions options, const std::string& device) {
  auto det = DetectorPredictor::load(detector_dir, device);
  if (!det) return tl::unexpected(det.error());
  auto cls = ClassifierPredictor::load(classifier_dir, device);
  if (!cls) return tl::unexpected(cls.error());
  try {
    return std::make_unique<Pipeline>(std::shared_ptr<DetectorPredictor>(std::move(*det)),
                                      std::shared_ptr<ClassifierPredictor>(std::move(*cls)),
                                      std::move(options));
  } catch (const MarrowError& e) {
    return fail(e.code(), e.what());
  }
}

ModelVersions Pipeline::versions() const { return {detector_->version(), classifier_->version()}; }
const std::vector<std::string>& Pipeline::cell_classes() const { return classifier_->classes(); }

cv::Mat Pipeline::crop(const cv::Mat& field, const Box& box) const {
  return crop_square(field, box, options_.crop_margin);
}

namespace {
CellResult to_cell(const Detection& d, const std::vector<std::string>& det_names) {
  CellResult c;
  c.box = d.box;
  c.det_class = det_names.at(static_cast<size_t>(d.class_id));
  c.det_score = d.score;
  c.iou_pred = d.iou;
  return c;
}
}  // namespace

std::vector<CellResult> Pipeline::detect_tiled(const cv::Mat& field) {
  const auto tiles = make_tiles(field.cols, field.rows, options_.tile_size, options_.tile_overlap);
  std::vector<std::vector<TiledBox>> per_tile(tiles.size());
  std::vector<Detection> flat;
  for (size_t start = 0; start < tiles.size(); start += size_t(options_.detect_batch)) {
    const size_t end = std::min(tiles.size(), start + size_t(options_.detect_batch));
    std::vector<cv::Mat> batch;
    for (size_t t = start; t < end; ++t) batch.push_back(field(tiles[t]));
    auto dets = detector_->detect(batch);
    for (size_t t = start; t < end; ++t) {
      for (const auto& d : dets[t - start]) {
        Detection g = d;
        g.box = {d.box.x1 + tiles[t].x, d.box.y1 + tiles[t].y, d.box.x2 + tiles[t].x,
                 d.box.y2 + tiles[t].y};
        per_tile[t].push_back({g.box, g.class_id, g.score, static_cast<int>(flat.size())});
        flat.push_back(g);
      }
    }
  }
  std::vector<CellResult> cells;
  for (const auto& m : merge_tiled(per_tile, tiles, field.cols, field.rows))
    cells.push_back(to_cell(flat[static_cast<size_t>(m.source)], detector_->classes()));
  return cells;
}

std::vector<std::vector<CellResult>> Pipeline::detect_cells(const std::vector<cv::Mat>& fields) {
  std::vector<std::vector<CellResult>> out(fields.size());
  const float trigger = options_.tile_size * options_.tile_trigger;
  std::vector<size_t> whole;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].cols > trigger || fields[i].rows > trigger)
      out[i] = detect_tiled(fields[i]);
    else
      whole.push_back(i);
  }
  for (size_t start = 0; start < whole.size(); start += size_t(options_.detect_batch)) {
    const size_t end = std::min(whole.size(), start + size_t(options_.detect_batch));
    std::vector<cv::Mat> batch;
    for (size_t k = start; k < end; ++k) batch.push_back(fields[whole[k]]);
    auto dets = detector_->detect(batch);
    for (size_t k = start; k < end; ++k)
      for (const auto& d : dets[k - start]) out[whole[k]].push_back(to_cell(d, detector_->classes()));
  }
  // Keep nucleated cells above the score floor, best first.
  for (auto& cells : out) {
    std::vector<CellResult> kept;
    for (auto& c : cells) {
      const auto& names = detector_->classes();
      const int id = static_cast<int>(std::find(names.begin(), names.end(), c.det_class) - names.begin());
      if (c.det_score >= options_.min_det_score &&
          std::find(cell_class_ids_.begin(), cell_class_ids_.end(), id) != cell_class_ids_.end())
        kept.push_back(std::move(c));
    }
    std::sort(kept.begin(), kept.end(),
              [](const CellResult& a, const CellResult& b) { return a.det_score > b.det_score; });
    cells = std::move(kept);
  }
  return out;
}

void Pipeline::classify_into(const std::vector<cv::Mat>& crops, std::vector<CellResult*>& cells) {
  const auto& names = classifier_->classes();
  const size_t k = static_cast<size_t>(std::max(1, std::min<int>(options_.top_k, int(names.size()))));
  for (size_t start = 0; start < crops.size(); start += size_t(options_.classify_batch)) {
    const size_t end = std::min(crops.size(), start + size_t(options_.classify_batch));
    std::vector<cv::Mat> batch(crops.begin() + long(start), crops.begin() + long(end));
    auto preds = classifier_->classify(batch);
    for (size_t i = start; i < end; ++i) {
      const ClassPrediction& p = preds[i - start];
      CellResult& c = *cells[i];
      c.class_name = names.at(static_cast<size_t>(p.class_id));
      c.probability = p.probability;
      c.entropy = entropy_nats(p.probs);
      std::vector<size_t> order(p.probs.size());
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + long(k), order.end(),
                        [&](size_t a, size_t b) { return p.probs[a] > p.probs[b]; });
      c.top.clear();
      for (size_t j = 0; j < k; ++j) c.top.push_back({names[order[j]], p.probs[order[j]]});
      c.flagged = c.probability < options_.flag_min_probability || c.entropy > options_.flag_max_entropy;
    }
  }
}

std::vector<FieldResult> Pipeline::analyze(const std::vector<cv::Mat>& fields,
                                           const std::vector<std::string>& names) {
  MS_CHECK(fields.size() == names.size(), "one name per field");
  std::vector<FieldResult> results(fields.size());
  auto cells = detect_cells(fields);
  std::vector<cv::Mat> crops;
  std::vector<CellResult*> targets;
  for (size_t i = 0; i < fields.size(); ++i) {
    results[i].image = names[i];
    results[i].width = fields[i].cols;
    results[i].height = fields[i].rows;
    results[i].cells = std::move(cells[i]);
  }
  for (size_t i = 0; i < fields.size(); ++i)
    for (auto& c : results[i].cells) {
      crops.push_back(crop(fields[i], c.box));
      targets.push_back(&c);
    }
  classify_into(crops, targets);
  return results;
}

FieldResult Pipeline::analyze(const cv::Mat& field, const std::string& name) {
  return std::move(analyze(std::vector<cv::Mat>{field}, std::vector<std::string>{name}).front());
}

std::vector<CellResult> Pipeline::classify_crops(const std::vector<cv::Mat>& crops) {
  std::vector<CellResult> cells(crops.size());
  std::vector<CellResult*> targets;
  for (size_t i = 0; i < crops.size(); ++i) {
    cells[i].box = {0, 0, float(crops[i].cols), float(crops[i].rows)};
    targets.push_back(&cells[i]);
  }
  classify_into(crops, targets);
  return cells;
}

void Pipeline::analyze_files(const std::vector<std::string>& paths,
                             const std::function<void(FieldResult&&)>& on_result,
                             const ImageLimits& limits) {
  struct Decoded {
    std::string path;
    Result<cv::Mat> image;
  };
  std::mutex mu;
  std::condition_variable cv_ready, cv_space;
  std::deque<Decoded> queue;
  bool done = false;
  bool abort = false;
  const size_t capacity = static_cast<size_t>(options_.prefetch);
  std::thread reader([&] {
    for (const auto& p : paths) {
      Decoded d{p, read_image(p, limits)};
      std::unique_lock<std::mutex> lock(mu);
      cv_space.wait(lock, [&] { return queue.size() < capacity || abort; });
      if (abort) break;
      queue.push_back(std::move(d));
      cv_ready.notify_one();
    }
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv_ready.notify_one();
  });
  auto flush = [&](std::vector<cv::Mat>& fields, std::vector<std::string>& names) {
    if (fields.empty()) return;
    for (auto& r : analyze(fields, names)) on_result(std::move(r));
    fields.clear();
    names.clear();
  };
  try {
    std::vector<cv::Mat> fields;
    std::vector<std::string> names;
    while (true) {
      Decoded d;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv_ready.wait(lock, [&] { return !queue.empty() || done; });
        if (queue.empty()) break;
        d = std::move(queue.front());
        queue.pop_front();
        cv_space.notify_one();
      }
      if (!d.image) {
        flush(fields, names);  // keep results in input order
        FieldResult bad;
        bad.image = d.path;
        bad.error = d.image.error().message;
        on_result(std::move(bad));
        continue;
      }
      fields.push_back(std::move(*d.image));
      names.push_back(d.path);
      if (fields.size() >= size_t(options_.detect_batch)) flush(fields, names);
    }
    flush(fields, names);
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mu);
      abort = true;
      cv_space.notify_all();
    }
    reader.join();
    throw;
  }
  reader.join();
}

}  // namespace ms
