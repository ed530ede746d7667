#pragma once
// Which model class each dataset class becomes, for training and evaluation on data whose class
// list differs from the model's.
//
// Rules, in order, for each dataset class name D:
//  1. the class map names D ("D=M"): D becomes model class M; "D=" (nothing after '=') ignores
//     D: its boxes are dropped from training and evaluation;
//  1b. D is kNegativeBoxClass ("not_a_cell", a box a reviewer removed as a false detection):
//     its boxes are dropped from the targets, so every anchor over them is assigned background
//     (a negative of the focal loss) unless it overlaps a real cell; never matched as a positive;
//  1c. D is kIgnoreRegionClass ("unreviewed", a detected cell no reviewer decided on): its
//     boxes become the field's ignore regions, where anchors are neither positive nor negative
//     (a cell nobody confirmed is likely real, but unconfirmed it is no target either);
//  2. a model class equals D exactly;
//  3. a model class equals the text inside D's last parentheses: txl-pbc's classes.txt says
//     "White Blood Cell (WBC)", which matches a model class "WBC";
//     A leading line number is also dropped: txl-pbc's classes.txt numbers its lines
//     ("2 Platelet" matches "Platelet"), as some YOLO exports do;
//  4. the class map has a "*" entry ("*=WBC", "*="): D becomes that class (or is ignored), so a
//     reviewers' export with one class per cell type trains a detector's single white-cell class;
//  5. otherwise D is unmatched, and an error lists every unmatched class (a silent drop would
//     make a wrong class list look like a bad model).
// Class-map keys may also be written in the short form of rule 3 ("WBC=WBC").
#include <string>
#include <vector>

#include "core/error.h"
#include "data/annotation.h"

namespace ms {

// The class the server's training export gives removed boxes (store::kNotACell).
inline constexpr const char* kNegativeBoxClass = "not_a_cell";
// The class the export gives detected cells that no reviewer confirmed or removed.
inline constexpr const char* kIgnoreRegionClass = "unreviewed";

// dataset class id -> model class id, kDropClass for an ignored class or kIgnoreRegion.
using ClassMapping = std::vector<int>;
inline constexpr int kDropClass = -1;
inline constexpr int kIgnoreRegion = -2;

// class_map: "A=B,C=D,E=" (empty string: no map). Errors name the entry or list the unmatched
// classes, and a map target the model does not have.
Result<ClassMapping> map_dataset_classes(const std::vector<std::string>& dataset_classes,
                                         const std::vector<std::string>& model_classes,
                                         const std::string& class_map);

// The text inside the last "( )" of a name, or "" when it has none ("Red Blood Cell (RBC)" -> "RBC").
std::string parenthesised_name(const std::string& name);

// "Platelet" for "2 Platelet"; "" when the name does not start with digits and a space.
std::string unnumbered_name(const std::string& name);

// Rewrites every box's class id through the mapping, dropping boxes of ignored classes and moving
// kIgnoreRegion boxes to Field::ignore, and sets the dataset's class list to model_classes.
FieldDataset remap_fields(const FieldDataset& ds, const ClassMapping& mapping,
                          const std::vector<std::string>& model_classes);

}  // namespace ms
