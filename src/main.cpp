#include <cstring>

#include "cli/app.h"
#include "core/image.h"

int main(int argc, char** argv) {
  // The lab server and its workers decode files strangers upload: OpenCV's own decoder cap must
  // be in force, and OpenCV reads it only from the environment when it loads (this restarts the
  // process once with it set).
  if (argc > 1 && (std::strcmp(argv[1], "serve") == 0 || std::strcmp(argv[1], "worker") == 0))
    ms::ensure_decoder_pixel_limit(argv);
  return ms::cli::run(argc, argv);
}
