#include "server/pipeline_runner.h"

#include <filesystem>

#include "core/config.h"
#include "core/slide_reader.h"
#include "pipeline/pipeline.h"
#include "pipeline/slide_analysis.h"
#include "server/crypto.h"
#include "store/database.h"  // MS_ASSIGN_OR_RETURN

namespace ms::server {
namespace fs = std::filesystem;

namespace {

store::AnalysedCell to_analysed(const CellResult& c) {
  store::AnalysedCell a;
  a.box = c.box;
  a.det_score = c.det_score;
  a.cell_class = c.class_name;
  a.probability = c.probability;
  for (const auto& s : c.top) a.top_k.emplace_back(s.class_name, s.probability);
  a.entropy = c.entropy;
  a.flagged = c.flagged;
  a.atypical = c.atypical;
  a.flag_reason = c.flag_reason;
  return a;
}

}  // namespace

Result<store::ModelInfo> describe_model(const std::string& kind, const std::string& dir,
                                        const std::string& version) {
  store::ModelInfo m;
  m.kind = kind;
  m.name = fs::path(dir).lexically_normal().filename().string();
  if (m.name.empty()) m.name = fs::path(dir).lexically_normal().parent_path().filename().string();
  m.version = version;
  MS_ASSIGN_OR_RETURN(auto weights, read_file_bytes((fs::path(dir) / "model.pt").string()));
  m.sha256 = sha256_hex(weights.data(), weights.size());
  MS_ASSIGN_OR_RETURN(auto card, read_json_file((fs::path(dir) / "model.json").string()));
  Json metrics = Json::object();
  if (card.is_object() && card.contains("metrics") && card["metrics"].is_object())
    for (const auto& [k, v] : card["metrics"].items())
      if (v.is_number() || v.is_boolean() || v.is_string()) metrics[k] = v;
  m.metrics_json = metrics.dump();
  return m;
}

Result<std::shared_ptr<PipelineRunner>> PipelineRunner::load(const std::string& detector_dir,
                                                             const std::string& classifier_dir,
                                                             PipelineOptions options,
                                                             const std::string& device) {
  MS_ASSIGN_OR_RETURN(auto pipeline, Pipeline::load(detector_dir, classifier_dir, options, device));
  const ModelVersions v = pipeline->versions();
  MS_ASSIGN_OR_RETURN(auto det, describe_model("detector", detector_dir, v.detector));
  MS_ASSIGN_OR_RETURN(auto cls, describe_model("classifier", classifier_dir, v.classifier));
  auto runner = std::make_shared<PipelineRunner>(std::shared_ptr<Pipeline>(std::move(pipeline)),
                                                 std::vector<store::ModelInfo>{det, cls});
  runner->detector_dir_ = detector_dir;
  runner->classifier_dir_ = runner->startup_classifier_dir_ = classifier_dir;
  runner->device_ = device;
  runner->options_ = std::move(options);  // kept for loading another classifier with the same options
  return runner;
}

PipelineRunner::PipelineRunner(std::shared_ptr<Pipeline> pipeline, std::vector<store::ModelInfo> models)
    : pipeline_(std::move(pipeline)), models_(std::move(models)) {
  MS_CHECK(pipeline_ != nullptr, "PipelineRunner needs a pipeline");
}

PipelineRunner::~PipelineRunner() = default;

std::shared_ptr<Pipeline> PipelineRunner::current() const {
  std::lock_guard<std::mutex> lock(state_);
  return pipeline_;
}

std::vector<store::ModelInfo> PipelineRunner::models() const {
  std::lock_guard<std::mutex> lock(state_);
  return models_;
}

std::string PipelineRunner::classifier_dir() const {
  std::lock_guard<std::mutex> lock(state_);
  return classifier_dir_;
}

std::string PipelineRunner::startup_classifier_dir() const {
  std::lock_guard<std::mutex> lock(state_);
  return startup_classifier_dir_;
}

store::ModelInfo PipelineRunner::classifier_model() const {
  std::lock_guard<std::mutex> lock(state_);
  for (const auto& m : models_)
    if (m.kind == "classifier") return m;
  return {};
}

Status PipelineRunner::use_classifier(const std::string& dir) {
  std::string detector_dir;
  {
    std::lock_guard<std::mutex> lock(state_);
    detector_dir = detector_dir_;
  }
  if (detector_dir.empty())
    return fail(ErrorCode::kConflict, "this analysis runner was not loaded from model folders; it cannot switch classifiers");
  // Loading takes a second or two: it happens before the switch, outside every lock.
  MS_ASSIGN_OR_RETURN(auto pipeline, Pipeline::load(detector_dir, dir, options_, device_));
  const ModelVersions v = pipeline->versions();
  MS_ASSIGN_OR_RETURN(auto cls, describe_model("classifier", dir, v.classifier));
  std::lock_guard<std::mutex> lock(state_);
  pipeline_ = std::shared_ptr<Pipeline>(std::move(pipeline));
  for (auto& m : models_)
    if (m.kind == "classifier") m = cls;
  classifier_dir_ = dir;
  return {};
}

std::string PipelineRunner::name() const {
  const ModelVersions v = current()->versions();
  return "pipeline: detector " + v.detector + ", classifier " + v.classifier;
}

Result<store::AnalysisOutput> PipelineRunner::analyse_area(const store::AnalysisInput& input,
                                                           const std::function<void(double)>& progress) {
  MS_ASSIGN_OR_RETURN(auto slide, SlideReader::open(input.image_path));
  const SlideRegion region{input.region->x, input.region->y, input.region->w, input.region->h};
  if (region.x < 0 || region.y < 0 || region.w <= 0 || region.h <= 0 || region.x + region.w > slide->width() ||
      region.y + region.h > slide->height())
    return fail(ErrorCode::kInvalidArgument, "area", "a rectangle inside the slide",
                std::to_string(region.x) + "," + std::to_string(region.y) + "," + std::to_string(region.w) + "," +
                    std::to_string(region.h));
  progress(0.02);
  const auto pipeline = current();
  RegionAnalysisOptions options;
  options.um_per_px = input.um_per_px;
  // A white cell is at most ~25 um across (a few hundred pixels at 40x-100x); its classifier crop
  // about twice that. The margin sees cells on the area's edge whole; each is counted by the area
  // its centre lies in.
  options.margin = 256;
  Result<FieldResult> result = fail(ErrorCode::kInternal, "area not analysed");
  {
    // One lock for the whole area: the pipeline's models are not shared between threads, and an
    // area (at most kMaxAreaPixels) takes seconds.
    std::lock_guard<std::mutex> lock(inference_);
    result = analyze_slide_region(*pipeline, *slide, region, options, [&](size_t done, size_t total) {
      progress(0.02 + 0.96 * double(done) / double(std::max<size_t>(total, 1)));
      return true;
    });
  }
  if (!result) return tl::unexpected(result.error());
  store::AnalysisOutput out;
  const ModelVersions v = pipeline->versions();
  out.detector_version = v.detector;
  out.classifier_version = v.classifier;
  out.cells.reserve(result->cells.size());
  for (const auto& c : result->cells) {
    store::AnalysedCell a = to_analysed(c);
    a.crop_side = pipeline->crop_side(c.box, result->rbc_side);
    out.cells.push_back(std::move(a));
  }
  progress(1.0);
  return out;
}

Result<store::AnalysisOutput> PipelineRunner::analyse(const store::AnalysisInput& input,
                                                      const std::function<void(double)>& progress) {
  if (input.region) return analyse_area(input, progress);
  MS_ASSIGN_OR_RETURN(auto field, read_image(input.image_path));
  progress(0.1);
  const auto pipeline = current();
  FieldResult result;
  {
    std::lock_guard<std::mutex> lock(inference_);
    result = pipeline->analyze(field, input.sha256, input.um_per_px);
  }
  if (!result.ok()) return fail(ErrorCode::kCorruptInput, "image " + input.sha256 + ": " + result.error);
  progress(0.9);
  store::AnalysisOutput out;
  const ModelVersions v = pipeline->versions();
  out.detector_version = v.detector;
  out.classifier_version = v.classifier;
  out.cells.reserve(result.cells.size());
  for (const auto& c : result.cells) {
    store::AnalysedCell a = to_analysed(c);
    // The side of the crop the classifier was given, from the pipeline's own crop (sized by this
    // field's red cells), so display and export crops can frame the cell the same way.
    a.crop_side = pipeline->crop(field, c.box, result.rbc_side).cols;
    out.cells.push_back(std::move(a));
  }
  progress(1.0);
  return out;
}

namespace {

// Recognition takes 8-bit BGR images only; anything else is the caller's mistake, named.
Status check_bgr(const std::vector<cv::Mat>& images, const char* what) {
  for (std::size_t i = 0; i < images.size(); ++i)
    if (images[i].empty() || images[i].type() != CV_8UC3)
      return fail(ErrorCode::kInvalidArgument, std::string(what) + " " + std::to_string(i), "an 8-bit BGR image",
                  images[i].empty() ? "an empty image" : "another pixel type");
  return {};
}

// A recognised cell has no detection score of its own: the image is the cell.
std::vector<store::AnalysedCell> recognised(const std::vector<CellResult>& cells) {
  std::vector<store::AnalysedCell> out;
  out.reserve(cells.size());
  for (const auto& c : cells) {
    store::AnalysedCell a = to_analysed(c);
    a.det_score = 1.f;
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

Result<std::vector<store::AnalysedCell>> PipelineRunner::classify_crops(const std::vector<cv::Mat>& crops_bgr) {
  MS_RETURN_IF_ERROR(check_bgr(crops_bgr, "crop"));
  const auto pipeline = current();
  std::vector<CellResult> cells;
  {
    std::lock_guard<std::mutex> lock(inference_);
    cells = pipeline->classify_crops(crops_bgr);
  }
  return recognised(cells);
}

Result<std::vector<store::AnalysedCell>> PipelineRunner::classify_cell_images(const std::vector<cv::Mat>& images_bgr,
                                                                              const CellImageScale& scale,
                                                                              std::vector<Framing>& framing) {
  MS_RETURN_IF_ERROR(check_bgr(images_bgr, "image"));
  const auto pipeline = current();
  std::vector<FramedCell> framed;
  std::vector<CellResult> cells;
  {
    std::lock_guard<std::mutex> lock(inference_);
    cells = pipeline->classify_cell_images(images_bgr, scale, &framed);
  }
  framing.clear();
  for (const auto& f : framed) framing.push_back(Framing{f.source, f.rbc_side_px});
  return recognised(cells);
}

std::vector<std::string> PipelineRunner::classes() const { return current()->cell_classes(); }

std::string PipelineRunner::classifier_version() const { return pipeline_->versions().classifier; }

}  // namespace ms::server
