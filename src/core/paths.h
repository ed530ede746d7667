#pragma once
// Where shipped resources live: models/ and configs/ of the installation (the repository root for
// a build tree). One rule for every entry point, so the CLI, the server and tests agree.
#include <string>

namespace ms {

// MARROWSCOPE_HOME when set; otherwise the nearest ancestor of the running binary's directory
// that holds a models/ or configs/ folder (build/marrowscope -> the repo root); otherwise the
// current directory.
std::string install_root();

// The shipped model folder `name` ("detector", "classifier"): $MARROWSCOPE_MODELS/name when
// MARROWSCOPE_MODELS is set, else install_root()/models/name.
std::string default_model_dir(const std::string& name);

// install_root()/configs/<relative>.
std::string config_path(const std::string& relative);

}  // namespace ms
