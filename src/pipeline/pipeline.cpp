#include "pipeline/pipeline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include <opencv2/imgproc.hpp>

#include "engine/predict/classifier_predictor.h"
#include "engine/predict/detector_predictor.h"
#include "models/runtime.h"
#include "pipeline/tiling.h"

namespace ms {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

float entropy_nats(const std::vector<float>& probs) {
  double h = 0;
  for (float p : probs)
    if (p > 0) h -= double(p) * std::log(double(p));
  return static_cast<float>(h);
}

std::string flag_reason(float probability, float entropy, float atypical, float min_probability,
                        float max_entropy, float min_atypical) {
  if (atypical >= 0.f && atypical >= min_atypical) return "atypical";
  if (probability < min_probability) return "low_confidence";
  if (entropy > max_entropy) return "high_entropy";
  return "";
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
  if (!options_.scale_class.empty()) {
    auto it = std::find(names.begin(), names.end(), options_.scale_class);
    if (it == names.end())
      throw MarrowError(ErrorCode::kInvalidArgument, "pipeline.scale_class: expected a detector class or \"\", found \"" +
                                                         options_.scale_class + "\"");
    scale_class_id_ = static_cast<int>(it - names.begin());
  }
  auto bad = [](const std::string& key, const std::string& expected, const std::string& found) {
    throw MarrowError(ErrorCode::kInvalidArgument,
                      "pipeline." + key + ": expected " + expected + ", found " + found);
  };
  // Tiles must overlap by more than a cell's diameter and still advance (tiling.h).
  if (options_.tile_size < 32) bad("tile_size", "at least 32 pixels", std::to_string(options_.tile_size));
  if (options_.tile_overlap < 0 || options_.tile_overlap > options_.tile_size / 2)
    bad("tile_overlap", "0 to tile_size/2 pixels", std::to_string(options_.tile_overlap));
  if (!(options_.tile_trigger >= 1.f)) bad("tile_trigger", "at least 1", std::to_string(options_.tile_trigger));
  if (!(options_.crop_margin >= 0.f && options_.crop_margin <= 2.f))
    bad("crop_margin", "0 to 2", std::to_string(options_.crop_margin));
  // Above 1 no cell could ever be flagged as atypical: a typo, not a wish.
  if (!(options_.flag_min_atypical >= 0.f && options_.flag_min_atypical <= 1.f))
    bad("flag_min_atypical", "a share in [0, 1]", std::to_string(options_.flag_min_atypical));
  if (options_.top_k < 1) bad("top_k", "at least 1", std::to_string(options_.top_k));
  if (!(options_.crop_rbc_sides > 0.f)) bad("crop_rbc_sides", "a positive number", std::to_string(options_.crop_rbc_sides));
  if (!(options_.cell_nms_iou > 0.f && options_.cell_nms_iou <= 1.f))
    bad("cell_nms_iou", "a value in (0, 1]", std::to_string(options_.cell_nms_iou));
  if (!(options_.cell_nms_ios > 0.f && options_.cell_nms_ios <= 1.f))
    bad("cell_nms_ios", "a value in (0, 1]", std::to_string(options_.cell_nms_ios));
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

namespace {
float crop_margin_for(const Box& box, float rbc_side, const PipelineOptions& o) {
  const float longer = std::max(box.width(), box.height());
  if (rbc_side <= 0.f || longer <= 0.f) return o.crop_margin;
  return std::max(0.05f, 0.5f * (o.crop_rbc_sides * rbc_side / longer - 1.f));
}
}  // namespace

cv::Mat Pipeline::crop(const cv::Mat& field, const Box& box, float rbc_side) const {
  return crop_square(field, box, crop_margin_for(box, rbc_side, options_));
}

int Pipeline::crop_side(const Box& box, float rbc_side) const {
  return crop_square_side(box, crop_margin_for(box, rbc_side, options_));
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
    const auto t0 = Clock::now();
    auto dets = detector_->detect(batch);
    count([&](PipelineTimings& t) {
      t.detect_s += seconds_since(t0);
      ++t.detector_calls;
    });
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

std::vector<std::vector<CellResult>> Pipeline::detect_cells(const std::vector<cv::Mat>& fields,
                                                            std::vector<float>& rbc_sides) {
  std::vector<std::vector<CellResult>> out(fields.size());
  rbc_sides.assign(fields.size(), 0.f);
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
    const auto t0 = Clock::now();
    auto dets = detector_->detect(batch);
    count([&](PipelineTimings& t) {
      t.detect_s += seconds_since(t0);
      ++t.detector_calls;
    });
    for (size_t k = start; k < end; ++k)
      for (const auto& d : dets[k - start]) out[whole[k]].push_back(to_cell(d, detector_->classes()));
  }
  // Keep nucleated cells above the score floor, best first; measure the red-cell ruler.
  for (size_t f = 0; f < out.size(); ++f) {
    auto& cells = out[f];
    std::vector<CellResult> kept;
    std::vector<float> red_sides;
    for (auto& c : cells) {
      const auto& names = detector_->classes();
      const int id = static_cast<int>(std::find(names.begin(), names.end(), c.det_class) - names.begin());
      if (id == scale_class_id_ && c.det_score >= options_.min_det_score)
        red_sides.push_back(std::max(c.box.width(), c.box.height()));
      if (c.det_score >= options_.min_det_score &&
          std::find(cell_class_ids_.begin(), cell_class_ids_.end(), id) != cell_class_ids_.end())
        kept.push_back(std::move(c));
    }
    std::stable_sort(kept.begin(), kept.end(),
                     [](const CellResult& a, const CellResult& b) { return a.det_score > b.det_score; });
    std::vector<TiledBox> boxes;
    for (size_t k = 0; k < kept.size(); ++k) boxes.push_back({kept[k].box, 0, kept[k].det_score, int(k)});
    cells.clear();
    for (const auto& b : suppress_duplicates(boxes, options_.cell_nms_iou, options_.cell_nms_ios))
      cells.push_back(std::move(kept[size_t(b.source)]));
    if (!red_sides.empty() && red_sides.size() >= size_t(std::max(1, options_.scale_min_cells))) {
      auto mid = red_sides.begin() + long(red_sides.size() / 2);
      std::nth_element(red_sides.begin(), mid, red_sides.end());
      rbc_sides[f] = *mid;
    }
  }
  return out;
}

void Pipeline::classify_into(const std::vector<cv::Mat>& crops, std::vector<CellResult*>& cells) {
  const auto& names = classifier_->classes();
  const size_t k = static_cast<size_t>(std::max(1, std::min<int>(options_.top_k, int(names.size()))));
  for (size_t start = 0; start < crops.size(); start += size_t(options_.classify_batch)) {
    const size_t end = std::min(crops.size(), start + size_t(options_.classify_batch));
    std::vector<cv::Mat> batch(crops.begin() + long(start), crops.begin() + long(end));
    const auto t0 = Clock::now();
    auto preds = classifier_->classify(batch);
    count([&](PipelineTimings& t) {
      t.classify_s += seconds_since(t0);
      ++t.classifier_calls;
    });
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
      c.atypical = p.atypical;
      c.flag_reason = flag_reason(c.probability, c.entropy, c.atypical, options_.flag_min_probability,
                                  options_.flag_max_entropy, options_.flag_min_atypical);
      c.flagged = !c.flag_reason.empty();
    }
  }
}

std::vector<FieldResult> Pipeline::analyze(const std::vector<cv::Mat>& fields,
                                           const std::vector<std::string>& names, double um_per_px) {
  MS_CHECK(fields.size() == names.size(), "one name per field");
  std::vector<FieldResult> results(fields.size());
  // Grey and BGRA fields are converted to BGR (crops must be BGR for the classifier); fields
  // that are not 8-bit images come back as errors naming them.
  std::vector<cv::Mat> usable;
  std::vector<size_t> where;
  for (size_t i = 0; i < fields.size(); ++i) {
    results[i].image = names[i];
    results[i].width = fields[i].cols;
    results[i].height = fields[i].rows;
    const cv::Mat& m = fields[i];
    if (m.empty() || m.depth() != CV_8U || (m.channels() != 1 && m.channels() != 3 && m.channels() != 4)) {
      results[i].error = names[i] + ": expected a non-empty 8-bit grey, BGR or BGRA image, found " +
                         (m.empty() ? std::string("an empty image")
                                    : "depth " + std::to_string(m.depth()) + " with " +
                                          std::to_string(m.channels()) + " channels");
      continue;
    }
    cv::Mat bgr = m;
    if (m.channels() == 1) cv::cvtColor(m, bgr, cv::COLOR_GRAY2BGR);
    if (m.channels() == 4) cv::cvtColor(m, bgr, cv::COLOR_BGRA2BGR);
    usable.push_back(bgr);
    where.push_back(i);
  }
  std::vector<float> rbc_sides;
  auto cells = detect_cells(usable, rbc_sides);
  const auto t0 = Clock::now();
  std::vector<cv::Mat> crops;
  std::vector<CellResult*> targets;
  for (size_t k = 0; k < usable.size(); ++k) {
    FieldResult& r = results[where[k]];
    r.cells = std::move(cells[k]);
    r.rbc_side = rbc_sides[k];
    r.scale_source = "red_cells";
    if (r.rbc_side <= 0.f) {
      r.rbc_side = red_cell_side_px(um_per_px);
      r.scale_source = r.rbc_side > 0.f ? "declared" : "none";
    }
    for (auto& c : r.cells) {
      crops.push_back(crop(usable[k], c.box, r.rbc_side));
      targets.push_back(&c);
    }
  }
  count([&](PipelineTimings& t) {
    t.crop_s += seconds_since(t0);
    t.fields += usable.size();
    t.cells += crops.size();
  });
  classify_into(crops, targets);
  return results;
}

FieldResult Pipeline::analyze(const cv::Mat& field, const std::string& name, double um_per_px) {
  return std::move(analyze(std::vector<cv::Mat>{field}, std::vector<std::string>{name}, um_per_px).front());
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
  analyze_files(
      paths, [&](FieldResult&& r, const cv::Mat&) { on_result(std::move(r)); }, limits);
}

void Pipeline::analyze_files(const std::vector<std::string>& paths,
                             const std::function<void(FieldResult&&, const cv::Mat&)>& on_result,
                             const ImageLimits& limits) {
  struct Decoded {
    size_t seq = 0;
    std::string path;
    Result<cv::Mat> image;
  };
  std::mutex mu;
  std::condition_variable cv_ready, cv_space;
  std::deque<Decoded> queue;
  bool done = false;
  bool abort = false;
  const size_t capacity = static_cast<size_t>(options_.prefetch);
  double decode_s = 0;  // reader thread only; added to timings_ after join
  std::thread reader([&] {
    for (size_t k = 0; k < paths.size(); ++k) {
      const auto t0 = Clock::now();
      Decoded d{k, paths[k], read_image(paths[k], limits)};
      decode_s += seconds_since(t0);
      std::unique_lock<std::mutex> lock(mu);
      cv_space.wait(lock, [&] { return queue.size() < capacity || abort; });
      if (abort) break;
      queue.push_back(std::move(d));
      cv_ready.notify_one();
    }
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv_ready.notify_all();
  });

  // Results leave in input order whichever stream made them; on_result runs under out_mu.
  std::mutex out_mu;
  std::map<size_t, std::pair<FieldResult, cv::Mat>> waiting;
  size_t next_out = 0;
  auto emit = [&](size_t seq, FieldResult&& r, const cv::Mat& field) {
    std::lock_guard<std::mutex> lock(out_mu);
    waiting.emplace(seq, std::make_pair(std::move(r), field));
    while (!waiting.empty() && waiting.begin()->first == next_out) {
      auto node = waiting.extract(waiting.begin());
      on_result(std::move(node.mapped().first), node.mapped().second);
      ++next_out;
    }
  };
  // One stream: take fields as they are decoded, analyse them detect_batch at a time.
  auto stream = [&] {
    std::vector<cv::Mat> fields;
    std::vector<std::string> names;
    std::vector<size_t> seqs;
    auto flush = [&] {
      if (fields.empty()) return;
      auto results = analyze(fields, names);
      for (size_t i = 0; i < results.size(); ++i) emit(seqs[i], std::move(results[i]), fields[i]);
      fields.clear();
      names.clear();
      seqs.clear();
    };
    while (true) {
      Decoded d;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv_ready.wait(lock, [&] { return !queue.empty() || done || abort; });
        if (queue.empty() || abort) break;
        d = std::move(queue.front());
        queue.pop_front();
        cv_space.notify_one();
      }
      if (!d.image) {
        FieldResult bad;
        bad.image = d.path;
        bad.error = d.image.error().message;
        emit(d.seq, std::move(bad), cv::Mat());
        continue;
      }
      fields.push_back(std::move(*d.image));
      names.push_back(d.path);
      seqs.push_back(d.seq);
      if (fields.size() >= size_t(options_.detect_batch)) flush();
    }
    flush();
  };
  // Wakes the reader and every stream, which then stop taking or queueing fields.
  auto request_abort = [&] {
    std::lock_guard<std::mutex> lock(mu);
    abort = true;
    cv_space.notify_all();
    cv_ready.notify_all();
  };
  auto stop_reader = [&] {
    request_abort();
    reader.join();
  };

  const int threads = intra_op_threads();
  const int streams = analysis_streams(options_.streams, threads, paths.size());
  if (streams <= 1) {
    try {
      stream();
    } catch (...) {
      stop_reader();
      throw;
    }
  } else {
    // Two forward passes side by side on one thread each keep two cores busier than one pass on
    // two threads (docs/RESULTS.md): each stream gets its share of the threads.
    std::exception_ptr failed;
    std::mutex failed_mu;
    std::vector<std::thread> workers;
    for (int k = 0; k < streams; ++k)
      workers.emplace_back([&, k] {
        set_intra_op_threads(std::max(1, threads / streams + (k < threads % streams ? 1 : 0)));
        try {
          stream();
        } catch (...) {
          {
            std::lock_guard<std::mutex> lock(failed_mu);
            if (!failed) failed = std::current_exception();
          }
          request_abort();
        }
      });
    for (auto& w : workers) w.join();
    set_intra_op_threads(threads);  // the process-wide count the streams changed
    if (failed) {
      stop_reader();
      std::rethrow_exception(failed);
    }
  }
  reader.join();
  std::lock_guard<std::mutex> lock(timings_mu_);
  timings_.decode_s += decode_s;
}

int analysis_streams(int option, int threads, size_t fields) {
  const int s = option > 0 ? std::min(option, kMaxAnalysisStreams) : (threads >= 2 ? 2 : 1);
  return static_cast<int>(std::clamp<size_t>(fields, 1, static_cast<size_t>(s)));
}

}  // namespace ms
