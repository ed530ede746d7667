// Recognition (the thesis's recognition module): classify uploaded single-cell crops without
// detection. Nothing is stored: the crops are decoded, classified and forgotten; only an
// operation-log line records that a recognition ran.
#include "server/api.h"
#include "server/cell_recognizer.h"
#include "server/field_upload.h"

namespace ms::server {
namespace {

constexpr std::size_t kMaxCrops = 256;
// A single-cell crop is small; a stitched field sent here by mistake is refused cheaply.
constexpr std::int64_t kMaxCropPixels = 16'000'000;

Json recognition_json(const std::string& filename, int width, int height, const store::AnalysedCell& c) {
  Json top = Json::array();
  for (const auto& [name, p] : c.top_k) top.push_back({{"class", name}, {"p", p}});
  return {{"filename", filename}, {"width", width},        {"height", height},
          {"class", c.cell_class}, {"probability", c.probability}, {"top_k", top},
          {"entropy", c.entropy},  {"flagged", c.flagged}};
}

}  // namespace

void register_recognition_routes(Api& api) {
  ServerContext& ctx = api.ctx();
  store::Database& db = api.db();

  api.post(R"(/api/recognition)", Access::kAnyUser,
           "Classify single-cell crops without detection (multipart, up to 256 files): each "
           "checked by content first, one bad file refuses the request (details.files); nothing "
           "is stored -> {items: [{filename, class, probability, top_k, entropy, flagged}], "
           "classes}",
           [&ctx, &db](const httplib::Request& req, const Caller& c) -> Result<Reply> {
             if (!ctx.recognizer)
               return fail(ErrorCode::kConflict,
                           "this server runs without an analysis pipeline (started with "
                           "--no-analysis); recognition needs the classifier");
             MS_RETURN_IF_ERROR(require_multipart(req, "recognition upload"));
             MS_ASSIGN_OR_RETURN(auto parts, file_parts(req, "recognition upload"));
             if (parts.size() > kMaxCrops)
               return fail(ErrorCode::kInvalidArgument, "recognition upload",
                           "at most " + std::to_string(kMaxCrops) + " files", std::to_string(parts.size()));
             ImageLimits limits;
             limits.max_bytes = ctx.options.max_image_bytes;
             limits.max_pixels = kMaxCropPixels;
             // Checked as field uploads are (empty 400, too large 413, not an image 415, damaged
             // 422), with a pixel limit of their own.
             std::vector<cv::Mat> crops;
             auto check = [&limits](const httplib::MultipartFormData& part) {
               return decode_upload(part.filename, part.content, limits);
             };
             if (auto refused = check_file_parts(parts, "classified", check, crops)) return *refused;
             MS_ASSIGN_OR_RETURN(auto results, ctx.recognizer->classify_crops(crops));
             if (results.size() != crops.size())
               throw MarrowError(ErrorCode::kInternal, "recognizer returned " + std::to_string(results.size()) +
                                                           " results for " + std::to_string(crops.size()) + " crops");
             Json items = Json::array();
             for (std::size_t i = 0; i < results.size(); ++i)
               items.push_back(recognition_json(clean_filename(parts[i]->filename), crops[i].cols, crops[i].rows,
                                                results[i]));
             MS_RETURN_IF_ERROR(db.transact(store::TxMode::kWrite, [&](store::Tx& tx) {
               return log_operation(tx, c, "recognition.classify", std::to_string(items.size()) + " crop(s)");
             }));
             return Reply::json({{"items", items}, {"classes", ctx.recognizer->classes()}});
           });
}

}  // namespace ms::server
