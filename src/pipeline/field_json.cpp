#include "pipeline/field_json.h"

#include <cstdio>

#include "report/csv_export.h"

namespace ms {

Json cell_to_json(const CellResult& c) {
  Json top = Json::array();
  for (const auto& t : c.top) top.push_back({{"class", t.class_name}, {"probability", t.probability}});
  Json j = {{"box", {c.box.x1, c.box.y1, c.box.x2, c.box.y2}},
            {"det_class", c.det_class},
            {"det_score", c.det_score},
            {"class", c.class_name},
            {"probability", c.probability},
            {"top", top},
            {"entropy", c.entropy},
            {"flagged", c.flagged}};
  if (c.iou_pred >= 0) j["iou_pred"] = c.iou_pred;
  if (c.atypical >= 0) j["atypical"] = c.atypical;
  if (!c.flag_reason.empty()) j["flag_reason"] = c.flag_reason;
  return j;
}

Json field_to_json(const FieldResult& f) {
  if (!f.ok()) return {{"image", f.image}, {"error", f.error}};
  Json cells = Json::array();
  for (const auto& c : f.cells) cells.push_back(cell_to_json(c));
  return {{"image", f.image}, {"width", f.width}, {"height", f.height}, {"cells", cells}};
}

std::string cells_csv_header() {
  return "image,cell,x1,y1,x2,y2,det_class,det_score,iou_pred,class,probability,entropy,flagged,top,atypical,flag_reason\n";
}

std::string cells_to_csv_rows(const FieldResult& f) {
  std::string out;
  char buf[256];
  for (size_t i = 0; i < f.cells.size(); ++i) {
    const CellResult& c = f.cells[i];
    std::string top;
    for (const auto& t : c.top) {
      std::snprintf(buf, sizeof buf, "%s%s:%.4f", top.empty() ? "" : ";", t.class_name.c_str(),
                    t.probability);
      top += buf;
    }
    std::snprintf(buf, sizeof buf, ",%zu,%.1f,%.1f,%.1f,%.1f,", i, c.box.x1, c.box.y1, c.box.x2, c.box.y2);
    out += csv_field(f.image) + buf + csv_field(c.det_class);
    std::snprintf(buf, sizeof buf, ",%.4f,%.4f,", c.det_score, c.iou_pred);
    out += buf + csv_field(c.class_name);
    std::snprintf(buf, sizeof buf, ",%.4f,%.4f,%d,", c.probability, c.entropy, c.flagged ? 1 : 0);
    out += buf + csv_field(top);
    std::snprintf(buf, sizeof buf, ",%.4f,", c.atypical);
    out += buf + csv_field(c.flag_reason) + "\n";
  }
  return out;
}

}  // namespace ms
