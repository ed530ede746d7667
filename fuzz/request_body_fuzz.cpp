// JSON request bodies as the routes read them: parse_json, then parse_config<T> (core/config.h)
// for every body type the server accepts (server/request_bodies.h and the store's input types),
// then the store's validation where a route runs it. Properties: nothing throws; a body that
// parses writes back (config_to_json) to JSON that parses again to the same JSON, so what the
// server stores or echoes is what it accepted.
#include <cstdint>
#include <optional>
#include <string>

#include "core/config.h"
#include "fuzz_check.h"
#include "server/request_bodies.h"
#include "store/patient_store.h"
#include "store/user_store.h"

namespace {

// Parses `j` as T the way body_as<T> does; checks the write-back property on success.
template <typename T>
std::optional<T> parse_body(const ms::Json& j) {
  auto parsed = ms::parse_config<T>(j, "request body");
  if (!parsed) {
    FUZZ_CHECK(parsed.error().code == ms::ErrorCode::kInvalidArgument);
    return std::nullopt;
  }
  const ms::Json written = ms::config_to_json(*parsed);
  auto again = ms::parse_config<T>(written, "written body");
  FUZZ_CHECK(again);
  FUZZ_CHECK(ms::config_to_json(*again) == written);
  return std::move(*parsed);
}

template <typename... T>
void parse_bodies(const ms::Json& j) {
  (parse_body<T>(j), ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto j = ms::parse_json(std::string(reinterpret_cast<const char*>(data), size), "request body");
  if (!j) return 0;
  namespace st = ms::store;
  namespace sv = ms::server;
  parse_bodies<sv::LoginRequest, sv::PasswordChange, sv::CellPatch, sv::BatchReview, sv::StatusChange,
               sv::SignRequest, sv::AddendumRequest, st::PatientUpdate, st::SampleInput,
               st::SampleUpdate>(*j);
  // The bodies whose routes run a store validation before touching the database.
  if (auto p = parse_body<st::PatientInput>(*j)) (void)st::validate_patient(*p);
  if (auto u = parse_body<st::NewUser>(*j)) (void)st::validate_new_user(*u);
  if (auto u = parse_body<st::UserUpdate>(*j)) (void)st::validate_user_update(*u);
  return 0;
}
