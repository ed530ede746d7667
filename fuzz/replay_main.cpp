// Replays fuzz inputs through one harness without libFuzzer: every regular file of each folder
// named on the command line goes to LLVMFuzzerTestOneInput, in sorted order. A harness that finds
// a broken property aborts, which fails the test; a folder that is missing counts as empty, but
// at least one input must have run so that a mistyped corpus path cannot pass silently.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  std::size_t runs = 0;
  for (int a = 1; a < argc; ++a) {
    std::error_code ec;
    if (!fs::is_directory(argv[a], ec)) {
      std::printf("%s: no such folder, nothing replayed from it\n", argv[a]);
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(argv[a]))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!in.good() && !in.eof()) {
        std::fprintf(stderr, "%s: cannot read\n", f.c_str());
        return 1;
      }
      std::fprintf(stderr, "replay %s\n", f.c_str());
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++runs;
    }
    std::printf("%s: %zu inputs replayed\n", argv[a], files.size());
  }
  if (runs == 0) {
    std::fprintf(stderr, "no inputs replayed\n");
    return 1;
  }
  return 0;
}
