#pragma once
#include <string>
#include <vector>

namespace ms {

// Analysis pipeline settings (JSON via visit(); `--set pipeline.x=y` on the CLI).
struct PipelineOptions {
  // Detector classes that are nucleated cells and get cropped and classified.
  std::vector<std::string> cell_classes{"WBC"};
  // Detections below are not cells. The floor belongs to the shipped detector's score scale: its
  // ranking score blends class score and predicted IoU, which lifts well-placed boxes. Replayed on
  // 240 txl-pbc train fields not from PBC (tools/field_accuracy_tune.py, docs/RESULTS.md): 0.6
  // gives 0.958 of fields exactly right at recall 0.979; 0.65 gives 0.963 at recall 0.967 (we
  // prefer the missed cell to be rarer); 0.4, right for the previous detector, leaves 0.62.
  float min_det_score = 0.6f;
  // Class-agnostic duplicate suppression among cells, after the detector's own class-wise NMS
  // (IoU 0.5, tuned for crowded COCO scenes). White cells in a smear monolayer rarely overlap, so
  // a lower-scored cell overlapping a better one by IoU > cell_nms_iou, or lying inside it
  // (intersection over its own area > cell_nms_ios), is a partial second box of the same cell.
  // 1 disables either test. Tuned on txl-pbc train fields (docs/RESULTS.md, Pipeline).
  float cell_nms_iou = 0.3f;
  float cell_nms_ios = 0.7f;
  // Fraction of the box's longer side added on each side of the square crop. The classifier must
  // see cells framed as in its training images: in PBC (Acevedo et al. 2020) the white cell's
  // longer side is a median 39% of the image side (285 labelled PBC-derived txl-pbc fields from
  // the shipped classifier's training list), so the crop side is 1/0.39 = 2.5 box sides.
  float crop_margin = 0.75f;
  // Red cells as the field's ruler. Margins relative to the box erase a cell's size, and size is
  // much of what tells a lymphocyte from a monocyte. Red cells are near-constant in size, so when
  // a field shows at least scale_min_cells of them (detector class scale_class, above
  // min_det_score) the crop side is crop_rbc_sides times their median box side, as in the
  // classifier's training images: a PBC image is 4.43 red-cell sides wide (median of 286
  // labelled PBC-derived txl-pbc fields from the shipped classifier's training list, IQR
  // 4.23-4.62). The crop never cuts the cell (at least 1.1 box sides). Fewer red cells, or
  // scale_class "", fall back to crop_margin.
  std::string scale_class = "RBC";
  float crop_rbc_sides = 4.43f;
  int scale_min_cells = 3;
  int detect_batch = 4;         // fields per detector forward
  int classify_batch = 32;      // crops per classifier forward
  int top_k = 3;
  // Flag a cell for review first when its top-1 probability is below this, or its entropy
  // (nats) above flag_max_entropy (thesis 5.x active-learning uncertainty ranking).
  float flag_min_probability = 0.6f;
  float flag_max_entropy = 1.0f;
  // ...or when its atypical score (engine/classifier/atypical.h) reaches this: 0.95 flags the
  // 5% most unusual cells of the training lab itself, and every cell beyond them.
  float flag_min_atypical = 0.95f;
  // Images with a side above tile_size * tile_trigger are tiled (stitched fields).
  int tile_size = 640;          // pixels of the original image
  int tile_overlap = 192;       // must exceed the largest cell's diameter
  float tile_trigger = 1.5f;
  int prefetch = 8;             // decoded fields queued ahead of inference
  // Fields analysed side by side by analyze_files (the CLI): 0 = 2 when there are at least two
  // threads, else 1. A forward pass on 2 threads is far from twice one on 1 thread here, so two
  // one-thread streams keep the cores busier (docs/RESULTS.md).
  int streams = 0;
  template <class V>
  void visit(V& v) {
    v("cell_classes", cell_classes);
    v("min_det_score", min_det_score);
    v("cell_nms_iou", cell_nms_iou);
    v("cell_nms_ios", cell_nms_ios);
    v("crop_margin", crop_margin);
    v("scale_class", scale_class);
    v("crop_rbc_sides", crop_rbc_sides);
    v("scale_min_cells", scale_min_cells);
    v("detect_batch", detect_batch);
    v("classify_batch", classify_batch);
    v("top_k", top_k);
    v("flag_min_probability", flag_min_probability);
    v("flag_max_entropy", flag_max_entropy);
    v("flag_min_atypical", flag_min_atypical);
    v("tile_size", tile_size);
    v("tile_overlap", tile_overlap);
    v("tile_trigger", tile_trigger);
    v("prefetch", prefetch);
    v("streams", streams);
  }
};

}  // namespace ms
