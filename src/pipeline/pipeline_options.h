#pragma once
#include <string>
#include <vector>

namespace ms {

// Analysis pipeline settings (JSON via visit(); `--set pipeline.x=y` on the CLI).
struct PipelineOptions {
  // Detector classes that are nucleated cells and get cropped and classified.
  std::vector<std::string> cell_classes{"WBC"};
  float min_det_score = 0.3f;   // detections below are not cells
  float crop_margin = 0.15f;    // fraction of the box's longer side added on each side
  int detect_batch = 4;         // fields per detector forward
  int classify_batch = 32;      // crops per classifier forward
  int top_k = 3;
  // Flag a cell for review first when its top-1 probability is below this, or its entropy
  // (nats) above flag_max_entropy (thesis 5.x active-learning uncertainty ranking).
  float flag_min_probability = 0.6f;
  float flag_max_entropy = 1.0f;
  // Images with a side above tile_size * tile_trigger are tiled (stitched fields).
  int tile_size = 640;          // pixels of the original image
  int tile_overlap = 192;       // must exceed the largest cell's diameter
  float tile_trigger = 1.5f;
  int prefetch = 8;             // decoded fields queued ahead of inference
  template <class V>
  void visit(V& v) {
    v("cell_classes", cell_classes);
    v("min_det_score", min_det_score);
    v("crop_margin", crop_margin);
    v("detect_batch", detect_batch);
    v("classify_batch", classify_batch);
    v("top_k", top_k);
    v("flag_min_probability", flag_min_probability);
    v("flag_max_entropy", flag_max_entropy);
    v("tile_size", tile_size);
    v("tile_overlap", tile_overlap);
    v("tile_trigger", tile_trigger);
    v("prefetch", prefetch);
  }
};

}  // namespace ms
