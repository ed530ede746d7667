#include "engine/detector/field_source.h"

#include "data/formats/formats.h"
#include "engine/detector/class_mapping.h"

namespace ms {

Result<FieldDataset> read_detection_fields(const FieldSource& source, const std::vector<std::string>& model_classes) {
  auto format = parse_annotation_format(source.format);
  if (!format) return tl::unexpected(format.error());
  FieldReadOptions ro;
  ro.split = source.split;
  auto ds = read_fields(*format, source.path, ro);
  if (!ds) return tl::unexpected(ds.error());
  if (!source.split.empty() && ds->fields.empty())
    return fail(ErrorCode::kNotFound, source.path, "fields in split '" + source.split + "'", "none");
  auto mapping = map_dataset_classes(ds->classes, model_classes, source.class_map);
  if (!mapping) return fail(mapping.error().code, source.path + ": " + mapping.error().message);
  return remap_fields(*ds, *mapping, model_classes);
}

}  // namespace ms
