#pragma once
// What the adaptation routes need of the analysis runner: which classifier folder it uses, and a
// way to switch to another one while the server runs (an admin activating an adapted version).
#include <string>
#include <vector>

#include "core/error.h"
#include "store/analysis_runner.h"

namespace ms::server {

class ClassifierHost {
 public:
  virtual ~ClassifierHost() = default;
  // The folder of the classifier in use, and of the one the server was started with.
  virtual std::string classifier_dir() const = 0;
  virtual std::string startup_classifier_dir() const = 0;
  virtual store::ModelInfo classifier_model() const = 0;
  virtual std::vector<std::string> classes() const = 0;  // of the classifier in use
  // Loads the classifier folder (with the detector in use) and switches to it: analyses already
  // running finish with the old one, later ones use the new one. On an error nothing changes.
  virtual Status use_classifier(const std::string& dir) = 0;
};

}  // namespace ms::server
