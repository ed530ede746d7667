#pragma once
// Annotation formats: read them into the one in-memory model of data/annotation.h and write it
// back out. One .cpp per format (yolo_format.cpp, voc_format.cpp, coco_format.cpp,
// labelme_format.cpp, folder_format.cpp); this header is the whole public API.
//
// Conventions shared by every reader and writer:
// - Boxes in the model are xyxy in pixels of their field image (core/box.h); each format's own
//   convention is converted at the edge and documented on its functions.
// - Field::image_path is set by readers to a path that opens from the current directory (the
//   dataset folder joined with the format's relative path), so a writer can find the image.
// - Image sizes come from the image header (ms::probe_image), never from decoding pixels, and
//   images are recognised by their content, not their extension.
// - Input errors come back as Result errors whose message names the file and the line (text
//   formats) or the JSON path / XML element (structured formats); nothing throws on bad input.
// - Writers never decode or re-encode an image. Formats that keep images beside their labels
//   (YOLO, VOC, labelme, folder trees) create each image as a hard link to the source file, and
//   copy it only when a link is impossible (another file system, no permission); COCO writes
//   only its JSON, with file_name relative to an image root.
// - The class order of formats that have no class list of their own (VOC, labelme) comes from a
//   classes.txt (one name a line) in the dataset folder when present, else from sorted labels.
//   Their writers write that classes.txt, so a write then read gives back the same class ids.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "data/annotation.h"

namespace ms {

enum class AnnotationFormat { kYolo, kVoc, kCoco, kLabelme, kFolder };

std::string_view annotation_format_name(AnnotationFormat f);  // "yolo", "voc", ...
// Parses a name as annotation_format_name() writes it; the error lists the accepted names.
Result<AnnotationFormat> parse_annotation_format(std::string_view name);

// Decides the format of `path` (a dataset folder or a COCO JSON file) from what it contains:
//  1. a regular file ending in .json                                -> coco
//  2. a folder holding images/ and labels/                          -> yolo
//  3. a folder holding Annotations/                                 -> voc
//  4. a folder with a *.json (searched recursively) holding "shapes" -> labelme
//  5. a folder whose sub-folders hold images                        -> folder (per class)
// The first rule that matches wins; none matching is a kUnsupportedFormat error naming the path.
Result<AnnotationFormat> detect_annotation_format(const std::string& path);

// What a writer created, for the CLI to report.
struct WriteSummary {
  std::string destination;           // the folder or file written
  int images = 0;                    // fields (or cells) written
  int boxes = 0;
  int annotation_files = 0;          // label / XML / JSON files written
  int images_linked = 0;             // images created as hard links
  int images_copied = 0;             // images copied because a link was impossible
  int images_already_present = 0;    // the destination already held this very file
};

// ---- YOLO -----------------------------------------------------------------------------------
// Layouts: DIR/images/<split>/* with DIR/labels/<split>/<stem>.txt, or the flat DIR/images/* with
// DIR/labels/<stem>.txt (split ""). DIR/classes.txt names the classes verbatim, one a line; when
// it is absent the classes are named "0" .. "<largest id>". Each label line is
// `class cx cy w h`, centre and size normalised by the image width and height. An image without a
// label file is a field without boxes; a label file without an image is an error.
// `split` reads one split only ("" reads all; the flat layout has only "").
Result<FieldDataset> read_yolo(const std::string& dir, const std::string& split = "");
// Writes DIR/classes.txt, DIR/images/<split>/<image file name> (hard link, else copy) and
// DIR/labels/<split>/<stem>.txt (the flat layout for fields whose split is ""). Normalised
// numbers carry 6 decimals (under 1e-3 px of error for images up to 1000 px). Fields with
// unknown sizes are probed. Two fields with one image name in one split are an error.
Result<WriteSummary> write_yolo(const FieldDataset& ds, const std::string& dir);

// ---- Pascal VOC -----------------------------------------------------------------------------
// DIR/Annotations/*.xml: <filename>, <size><width><height>, and per <object> a <name> and a
// <bndbox> with <xmin> <ymin> <xmax> <ymax>, read as our continuous pixel coordinates (as
// torchvision and labelImg do; fractional values are accepted). Images are DIR/JPEGImages/
// <filename> (or, without <filename>, the image file whose stem is the XML's). A missing or zero
// <size> is read from the image header. The split comes from DIR/ImageSets/Main/<split>.txt (one
// id a line) when that folder exists, else it is "": files whose name holds '_' are VOC's
// per-class lists and are skipped, and trainval.txt is used only when neither train.txt nor
// val.txt exists (it repeats them). An id in two lists, or a listed id without its XML, is an error.
Result<FieldDataset> read_voc(const std::string& dir, const std::string& split = "");
// Writes DIR/JPEGImages/<image file name> (hard link, else copy), DIR/Annotations/<stem>.xml,
// DIR/ImageSets/Main/<split>.txt for named splits, and DIR/classes.txt. Coordinates are written
// as integers when they are whole, else in the shortest decimal form that reads back exactly.
Result<WriteSummary> write_voc(const FieldDataset& ds, const std::string& dir);

// ---- COCO -----------------------------------------------------------------------------------
// A COCO detection JSON: images[{id, file_name, width, height}], annotations[{id, image_id,
// category_id, bbox [x, y, w, h] in pixels, optional score}], categories[{id, name}]. Classes are
// the categories in ascending id order. file_name is relative to `image_root` ("" = the JSON's
// folder). Every field gets the split `split`. Annotations with iscrowd 1 are errors (RLE masks
// are not boxes of single cells).
Result<FieldDataset> read_coco(const std::string& json_path, const std::string& image_root = "",
                               const std::string& split = "");
// Writes one JSON: category ids 1..C (0 stays free for background, as in COCO), image and
// annotation ids from 1, iscrowd 0, area w*h, and a score only for boxes whose score is not 1.
// file_name is each image path relative to `image_root` ("" = the JSON's folder). Creates no
// image files.
Result<WriteSummary> write_coco(const FieldDataset& ds, const std::string& json_path,
                                const std::string& image_root = "");

// ---- labelme --------------------------------------------------------------------------------
// One JSON beside each image, found recursively under DIR: shapes[{label, points, shape_type}],
// imagePath relative to the JSON, imageWidth, imageHeight. "rectangle" (two corner points in any
// order), "polygon" (its bounding box) and "circle" (centre and a point on the rim: its bounding
// box) are read; other shape types are errors naming the shape. A JSON at DIR/<a>/.../x.json
// belongs to split <a>; one directly in DIR to split "". `split` reads only DIR/<split>.
Result<FieldDataset> read_labelme(const std::string& dir, const std::string& split = "");
// Writes DIR/<split>/<image file name> (hard link, else copy; DIR/<name> for split "") and a
// <stem>.json beside it (labelme 5 layout, rectangles, imageData null), plus DIR/classes.txt.
Result<WriteSummary> write_labelme(const FieldDataset& ds, const std::string& dir);

// ---- Folder-per-class trees -----------------------------------------------------------------
// DIR/<class>/<image>: classes are the sub-folder names in sorted order; files are taken when
// their bytes are an image (JPEG, PNG, BMP, TIFF), whatever their name; others are skipped.
// Image paths are sorted within each class.
Result<CellDataset> read_folder_tree(const std::string& dir);
// Writes DIR/<class>/<image file name> (hard link, else copy); two cells with one name in one
// class are an error.
Result<WriteSummary> write_folder_tree(const CellDataset& ds, const std::string& dir);

// ---- By format --------------------------------------------------------------------------------
struct FieldReadOptions {
  std::string split;       // one split only; for COCO, the split given to every field
  std::string image_root;  // COCO only: the folder file_name is relative to ("" = JSON's folder)
};
struct FieldWriteOptions {
  std::string image_root;  // COCO only: file_name is written relative to it ("" = JSON's folder)
};
// `path` is the dataset folder, or the JSON file for COCO. kFolder holds cells, not fields, and is
// refused here with kUnsupportedFormat.
Result<FieldDataset> read_fields(AnnotationFormat format, const std::string& path,
                                 const FieldReadOptions& options = {});
Result<WriteSummary> write_fields(const FieldDataset& ds, AnnotationFormat format,
                                  const std::string& path, const FieldWriteOptions& options = {});

}  // namespace ms
