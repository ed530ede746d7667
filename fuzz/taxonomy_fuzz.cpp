// Taxonomy loading (report/taxonomy.h) on arbitrary JSON text, as a lab's edited taxonomy file,
// and the differential computed with a taxonomy that loaded. Properties: nothing throws; an
// accepted taxonomy writes back to JSON that is accepted again; its reporting order is a
// permutation of its classes; a differential over it (every class counted a few times, both
// specimens) computes, and its JSON snapshot reads back and validates.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "core/config.h"
#include "fuzz_check.h"
#include "report/differential.h"
#include "report/taxonomy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto j = ms::parse_json(std::string(reinterpret_cast<const char*>(data), size), "taxonomy.json");
  if (!j) return 0;
  auto t = ms::parse_taxonomy(*j, "taxonomy.json");
  if (!t) {
    FUZZ_CHECK(!t.error().message.empty());
    return 0;
  }
  FUZZ_CHECK(ms::parse_taxonomy(ms::config_to_json(*t), "written taxonomy"));

  std::vector<std::size_t> order = t->reporting_order();
  std::sort(order.begin(), order.end());
  std::vector<std::size_t> all(t->classes.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  FUZZ_CHECK(order == all);

  for (auto specimen : {ms::Specimen::kBoneMarrow, ms::Specimen::kPeripheralBlood}) {
    ms::DifferentialInput input;
    input.specimen = specimen;
    for (std::size_t i = 0; i < t->classes.size(); ++i) {
      FUZZ_CHECK(t->find(t->classes[i].id) == &t->classes[i]);
      input.counts[t->classes[i].id] = static_cast<int>((i * 7 + size) % 13);
    }
    auto d = ms::compute_differential(*t, input);
    if (!d) continue;
    auto back = ms::differential_from_json(ms::differential_to_json(*d), "snapshot");
    FUZZ_CHECK(back);
    FUZZ_CHECK(ms::validate_differential_snapshot(*back, "snapshot"));
  }
  return 0;
}
