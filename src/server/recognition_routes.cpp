// Recognition (the thesis's recognition module): classify uploaded single-cell crops without
// field detection, each framed first as the field pipeline frames its crops (by the image's own
// red cells or a declared micrometres per pixel: other labs' crops come at any magnification and
// framing; pipeline/cell_image_scale.h). Nothing is stored: the crops are decoded, classified and
// forgotten; only an operation-log line records that a recognition ran.
//
// Memory is bounded per request and per process: each crop is refused from its header above
// kMaxCropSide per side, decoded, shrunk to kWorkingSide at once and its decoded pixels dropped
// before the next file is read; at most kMaxCrops per request; and at most kDecodeSlots requests
// decode at a time (the others wait), so one request holds at most ~13 MB of crops and the whole
// server a few tens of MB, whatever is sent.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "core/json_schema.h"
#include "core/scale.h"
#include "server/api.h"
#include "server/cell_recognizer.h"
#include "server/decode_slots.h"
#include "server/field_upload.h"

namespace ms::server {
namespace {

constexpr std::size_t kMaxCrops = 64;
// A single-cell crop is small (the classifier sees 144 px); a field sent here by mistake is
// refused from its header.
constexpr int kMaxCropSide = 1024;
// Crops are kept at most this large until classified: above the classifier's input and its
// resize margin, so the answer is the same as from the full crop.
constexpr int kWorkingSide = 256;
constexpr int kDecodeSlots = 2;

// Shared by every recognition request of the process.
DecodeSlots& decode_slots() {
  static DecodeSlots slots(kDecodeSlots);
  return slots;
}

// A decoded crop reduced at once: the pixels kept until classification, and the size it had.
struct Crop {
  cv::Mat bgr;
  int width = 0, height = 0;
  // Original pixels per kept pixel (>= 1): a declared scale and the red-cell ruler are converted
  // with it, so framing is the same as from the full crop.
  double reduction() const { return bgr.cols > 0 ? static_cast<double>(width) / bgr.cols : 1.0; }
};

// How the request asks the crops to be framed: ?frame=red_cells (default: by each image's own
// red cells, else by the declared scale, else as it is) or as_is (the declared scale, else as it
// is), and ?um_per_px=U (micrometres per pixel of the uploaded images).
Result<CellImageScale> requested_scale(const net::Request& req) {
  CellImageScale scale;
  const std::string frame = query_text(req, "frame", "red_cells");
  if (frame != "red_cells" && frame != "as_is")
    return fail(ErrorCode::kInvalidArgument, "query parameter 'frame'", "red_cells or as_is", "\"" + frame + "\"");
  scale.from_red_cells = frame == "red_cells";
  if (req.has_param("um_per_px")) {
    const std::string s = req.get_param_value("um_per_px");
    char* end = nullptr;
    const double v = s.size() <= 32 ? std::strtod(s.c_str(), &end) : 0.0;
    if (s.empty() || s.size() > 32 || end != s.c_str() + s.size() || !std::isfinite(v) || v <= 0 || v > kMaxUmPerPx)
      return fail(ErrorCode::kInvalidArgument, "query parameter 'um_per_px'",
                  fmt::format("micrometres per pixel, a number above 0 and at most {:g}", kMaxUmPerPx),
                  "\"" + s.substr(0, 32) + "\"");
    scale.um_per_px = v;
  }
  return scale;
}

Result<Crop> reduced_crop(const net::MultipartFormData& part, const ImageLimits& limits) {
  MS_ASSIGN_OR_RETURN(cv::Mat full, decode_upload(part.filename, part.content, limits));
  Crop c;
  c.width = full.cols;
  c.height = full.rows;
  const int longer = std::max(full.cols, full.rows);
  if (longer <= kWorkingSide) {
    c.bgr = std::move(full);
    return c;
  }
  const double scale = static_cast<double>(kWorkingSide) / longer;
  cv::resize(full, c.bgr,
             cv::Size(std::max(1, static_cast<int>(full.cols * scale + 0.5)),
                      std::max(1, static_cast<int>(full.rows * scale + 0.5))),
             0, 0, cv::INTER_AREA);
  return c;  // `full` is released here, before the next file is decoded
}

Json recognition_json(const std::string& filename, int width, int height, const store::AnalysedCell& c,
                      const CellRecognizer::Framing& framing, double reduction) {
  Json top = Json::array();
  for (const auto& [name, p] : c.top_k) top.push_back({{"class", name}, {"p", p}});
  return {{"filename", filename},
          {"width", width},
          {"height", height},
          {"class", c.cell_class},
          {"probability", c.probability},
          {"top_k", top},
          {"entropy", c.entropy},
          {"flagged", c.flagged},
          {"atypical", c.atypical >= 0.f ? Json(c.atypical) : Json()},
          {"flag_reason", c.flag_reason.empty() ? Json() : Json(c.flag_reason)},
          {"framing", {{"source", framing.source},
                       {"red_cell_side_px", framing.rbc_side_px > 0 ? Json(framing.rbc_side_px * reduction) : Json()}}}};
}

// The shape recognition_json writes. atypical and flag_reason are optional, so that answers of
// servers whose classifier does not report them fit as well.
Json recognition_schema() {
  Json s = object_of({{"filename", string_schema()},
                      {"width", integer_schema(1)},
                      {"height", integer_schema(1)},
                      {"class", string_schema()},
                      {"probability", {{"type", "number"}}},
                      {"top_k", ref("TopK")},
                      {"entropy", {{"type", "number"}}},
                      {"flagged", {{"type", "boolean"}}}});
  s["properties"]["atypical"] = nullable({{"type", "number"}, {"minimum", 0}, {"maximum", 1}});
  s["properties"]["flag_reason"] = nullable(string_schema());
  s["properties"]["framing"] = with_description(
      object_of({{"source", with_description(string_schema({"red_cells", "declared", "as_is"}),
                                             "the crop was cut or padded to the field pipeline's framing by the "
                                             "image's own red cells or by the declared scale, or classified as it is")},
                 {"red_cell_side_px", with_description(nullable({{"type", "number"}}),
                                                       "the red-cell ruler used, in the uploaded image's pixels")}}),
      "how the image was framed before it was classified");
  return s;
}

}  // namespace

void register_recognition_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();

  api.post(R"(/api/recognition)", Access::kStaff,
           Doc("Classify single-cell crops without detection; nothing is stored")
               .describe("Each file is checked by content first; one bad file refuses the request "
                         "(`details.files`). At most two requests decode at once")
               .query("frame", string_schema({"red_cells", "as_is"}),
                      "red_cells (default): frame each image by its own red cells (the detector runs on it), "
                      "else by um_per_px, else classify it as it is; as_is: by um_per_px, else as it is")
               .query("um_per_px", {{"type", "number"}, {"exclusiveMinimum", 0}, {"maximum", kMaxUmPerPx}},
                      "the images' scale in micrometres per pixel, where the lab knows it")
               .body("multipart/form-data",
                     object_of({{"files", array_of({{"type", "string"}, {"format", "binary"}})}}),
                     "single-cell crops (JPEG, PNG, BMP, TIFF), at most 64 files of at most 1024 x 1024 pixels")
               .answers(200,
                        object_of({{"items", array_of(recognition_schema())},
                                   {"classes", with_description(array_of(string_schema()), "the classifier's classes")}}),
                        "one item per file, in request order")
               .error(409, "a server started with --no-analysis (no classifier)")
               .error(413, "a file over the size or pixel limit")
               .error(422, "a file that does not decode"),
           [&ctx, &db](const net::Request& req, const Caller& c) -> Result<Reply> {
             if (!ctx.recognizer)
               return fail(ErrorCode::kConflict,
                           "this server runs without an analysis pipeline (started with "
                           "--no-analysis); recognition needs the classifier");
             MS_ASSIGN_OR_RETURN(CellImageScale scale, requested_scale(req));
             MS_RETURN_IF_ERROR(require_multipart(req, "recognition upload"));
             MS_ASSIGN_OR_RETURN(auto parts, file_parts(req, "recognition upload"));
             if (parts.size() > kMaxCrops)
               return fail(ErrorCode::kInvalidArgument, "recognition upload",
                           "at most " + std::to_string(kMaxCrops) + " files", std::to_string(parts.size()));
             ImageLimits limits;
             limits.max_bytes = ctx.options.max_image_bytes;
             limits.max_side = kMaxCropSide;
             limits.max_pixels = std::int64_t(kMaxCropSide) * kMaxCropSide;
             // Checked as field uploads are (empty 400, too large 413 naming the limit, not an
             // image 415, damaged 422), one file at a time.
             std::vector<Crop> checked;
             {
               DecodeSlots::Hold slot(decode_slots());
               auto check = [&limits](const net::MultipartFormData& part) { return reduced_crop(part, limits); };
               if (auto refused = check_file_parts(parts, "classified", check, checked)) return *refused;
             }
             std::vector<cv::Mat> crops;
             crops.reserve(checked.size());
             for (const auto& k : checked) {
               crops.push_back(k.bgr);
               if (scale.um_per_px > 0) scale.um_per_px_each.push_back(scale.um_per_px * k.reduction());
             }
             std::vector<CellRecognizer::Framing> framing;
             MS_ASSIGN_OR_RETURN(auto results, ctx.recognizer->classify_cell_images(crops, scale, framing));
             if (framing.size() != crops.size())
               throw MarrowError(ErrorCode::kInternal, "recognizer framed " + std::to_string(framing.size()) +
                                                           " of " + std::to_string(crops.size()) + " crops");
             if (results.size() != crops.size())
               throw MarrowError(ErrorCode::kInternal, "recognizer returned " + std::to_string(results.size()) +
                                                           " results for " + std::to_string(crops.size()) + " crops");
             Json items = Json::array();
             for (std::size_t i = 0; i < results.size(); ++i)
               items.push_back(recognition_json(clean_filename(parts[i]->filename), checked[i].width,
                                                checked[i].height, results[i], framing[i], checked[i].reduction()));
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
               return log_operation(tx, c, "recognition.classify", std::to_string(items.size()) + " crop(s)");
             }));
             return Reply::json({{"items", items}, {"classes", ctx.recognizer->classes()}});
           });
}

}  // namespace ms::server
