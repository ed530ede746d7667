// CSV parsing (store/csv.h) and the patient import (store/patient_store.h) on arbitrary text, as
// an uploaded patient list. The import runs inside a write transaction on a migrated SQLite
// database that is always rolled back, so every input starts from the same empty database.
// Properties: parse_csv returns rows or an error and never throws; csv_line output parses back
// into one row of as many fields; an import either lists bad rows and imports none, or imports
// exactly the data rows.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "fuzz_check.h"
#include "scratch_dir.h"
#include "store/csv.h"
#include "store/database.h"
#include "store/patient_store.h"
#include "store/schema.h"

namespace {

ms::store::Database* database() {
  static std::unique_ptr<ms::store::Database> db = [] {
    auto opened = ms::store::open_sqlite((ms::fuzz::scratch_dir("csv") / "fuzz.db").string());
    FUZZ_CHECK(opened);
    FUZZ_CHECK(ms::store::migrate(**opened));
    return std::move(*opened);
  }();
  return db.get();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  database();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto rows = ms::store::parse_csv(text, "fuzz.csv");
  if (rows) {
    // Each row written by csv_line reads back as one row of as many fields. A line goes after a
    // header, as in an export: only the text's first bytes may be a byte-order mark.
    for (const auto& row : *rows) {
      auto again = ms::store::parse_csv("header\r\n" + ms::store::csv_line(row), "csv_line");
      FUZZ_CHECK(again && again->size() == 2 && (*again)[1].size() == row.size());
    }
  }

  std::optional<std::size_t> data_rows;
  if (rows && !rows->empty()) data_rows = rows->size() - 1;
  const ms::Status rolled_back =
      database()->run_transaction(ms::store::TxMode::kWrite, [&](ms::store::Tx& tx) -> ms::Status {
        auto report = ms::store::import_patients_csv(tx, text, std::nullopt);
        if (report) {
          FUZZ_CHECK(data_rows);
          if (report->errors.empty())
            FUZZ_CHECK(static_cast<std::size_t>(report->imported) == *data_rows);
          else
            FUZZ_CHECK(report->imported == 0);
        }
        return ms::fail(ms::ErrorCode::kConflict, "fuzz: roll back");
      });
  FUZZ_CHECK(!rolled_back && rolled_back.error().message == "fuzz: roll back");
  return 0;
}
