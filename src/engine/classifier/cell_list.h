#pragma once
// Cell lists: "class<TAB>path" lines, the form in which a training run records its split
// (models/classifier/split/train.txt). Relative paths start at a given root.
#include <string>
#include <vector>

#include "core/error.h"
#include "data/annotation.h"

namespace ms {

// Reads `list` into a dataset over `classes` (ids in that order). A line without a tab, a class
// the list's reader does not know, or an empty list is an error naming the file and line.
Result<CellDataset> read_cell_list(const std::string& list, const std::string& root,
                                   const std::vector<std::string>& classes);

}  // namespace ms
