// Throttling of sign-ins, password checks and registrations, and session lifetimes, against each
// backend.
#include <gtest/gtest.h>

#include "store/user_store.h"
#include "unit/store/store_fixture.h"

namespace ms::store {
namespace {

class ThrottleTest : public StoreTest {
 protected:
  LoginAttempt attempt(const std::string& user, const std::string& ip) {
    LoginLimits limits{now_ms() - 60000, 5, 20};
    auto r = write([&](Tx& tx) { return begin_login_attempt(tx, user, ip, limits); });
    return r ? *r : LoginAttempt{};
  }
  std::int64_t rows(const std::string& sql) {
    auto r = db_->transact(TxMode::kRead, [&](Tx& tx) { return tx.query_one(sql); });
    return r && *r ? (**r).i("n") : -1;
  }
};

TEST_P(ThrottleTest, AStrangerLocksAnAccountOnlyForTheirOwnAddress) {
  for (int k = 0; k < 5; ++k) {
    const auto a = attempt("admin", "203.0.113.9");
    ASSERT_TRUE(a.id) << "attempt " << k;
    EXPECT_EQ(a.failures, k);
    EXPECT_EQ(a.tries_left_after_failure({0, 5, 20}), 4 - k);
  }
  const auto locked = attempt("admin", "203.0.113.9");
  EXPECT_FALSE(locked.id);
  EXPECT_EQ(locked.refused, LoginAttempt::Refused::kAccount);
  // The admin's own address is not affected by the stranger's guesses.
  const auto own = attempt("admin", "192.0.2.1");
  ASSERT_TRUE(own.id);
  EXPECT_EQ(own.failures, 0);
  EXPECT_EQ(own.refused, LoginAttempt::Refused::kNo);
  // The stranger may still try other names from their address (until the address limit).
  EXPECT_TRUE(attempt("doc", "203.0.113.9").id);
  // A success clears only that name's failures from that address.
  ASSERT_TRUE(write([&](Tx& tx) { return clear_login_failures(tx, "admin", "192.0.2.1"); }));
  EXPECT_FALSE(attempt("admin", "203.0.113.9").id);
}

TEST_P(ThrottleTest, AnAddressThatGuessedTooOftenIsRefusedForEveryName) {
  for (int k = 0; k < 20; ++k) ASSERT_TRUE(attempt("user" + std::to_string(k), "198.51.100.7").id) << k;
  const auto sprayed = attempt("someone-new", "198.51.100.7");
  EXPECT_FALSE(sprayed.id);
  EXPECT_EQ(sprayed.refused, LoginAttempt::Refused::kAddress);
  EXPECT_EQ(sprayed.address_failures, 20);
  EXPECT_TRUE(attempt("someone-new", "198.51.100.8").id) << "another address is not refused";
}

TEST_P(ThrottleTest, OldAttemptsAreNotCountedAndArePurged) {
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
    for (int k = 0; k < 30; ++k)
      MS_RETURN_IF_ERROR(tx.exec("INSERT INTO login_failures (username, ip, at) VALUES (?, ?, ?)",
                                 {std::string("admin"), std::string("203.0.113.9"), now_ms() - 2 * 86400000LL}));
    return {};
  }));
  EXPECT_EQ(rows("SELECT COUNT(*) AS n FROM login_failures"), 30);
  const auto a = attempt("admin", "203.0.113.9");
  ASSERT_TRUE(a.id) << "failures from two days ago still throttle";
  EXPECT_EQ(a.failures, 0);
  EXPECT_EQ(rows("SELECT COUNT(*) AS n FROM login_failures"), 1) << "old rows were not purged";
}

TEST_P(ThrottleTest, PurgeUsesAnIndexOnTheAttemptTime) {
  if (GetParam() != "sqlite") GTEST_SKIP() << "query plans checked on SQLite";
  auto plan = db_->transact(TxMode::kRead, [&](Tx& tx) {
    return tx.query("EXPLAIN QUERY PLAN DELETE FROM login_failures WHERE at < 5");
  });
  ASSERT_TRUE(plan) << plan.error().message;
  std::string text;
  for (const auto& r : *plan) text += r.s("detail") + "\n";
  EXPECT_NE(text.find("login_failures_at"), std::string::npos) << text;
  auto sessions = db_->transact(TxMode::kRead, [&](Tx& tx) {
    return tx.query("EXPLAIN QUERY PLAN DELETE FROM sessions WHERE expires_at < 5");
  });
  ASSERT_TRUE(sessions) << sessions.error().message;
  text.clear();
  for (const auto& r : *sessions) text += r.s("detail") + "\n";
  EXPECT_NE(text.find("sessions_expires"), std::string::npos) << text;
}

TEST_P(ThrottleTest, PasswordChecksCountPerAccountFromAnyAddress) {
  for (int k = 0; k < 5; ++k) {
    auto a = write([&](Tx& tx) {
      return begin_password_check(tx, "doc", "10.0.0." + std::to_string(k), now_ms() - 60000, 5);
    });
    ASSERT_TRUE(a && a->id) << k;
  }
  auto refused = write([&](Tx& tx) { return begin_password_check(tx, "doc", "10.0.0.99", now_ms() - 60000, 5); });
  ASSERT_TRUE(refused);
  EXPECT_FALSE(refused->id);
  // Separate from sign-in failures: a sign-in of "doc" is not refused by them.
  EXPECT_TRUE(attempt("doc", "10.0.0.1").id);
  ASSERT_TRUE(write([&](Tx& tx) { return clear_password_failures(tx, "doc"); }));
  auto again = write([&](Tx& tx) { return begin_password_check(tx, "doc", "10.0.0.99", now_ms() - 60000, 5); });
  EXPECT_TRUE(again && again->id);
}

TEST_P(ThrottleTest, UnlockForgetsTheAccountsFailuresFromEveryAddressOnly) {
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(attempt("tina", "203.0.113.9").id);
  for (int k = 0; k < 2; ++k) ASSERT_TRUE(attempt("tina", "198.51.100.7").id);
  ASSERT_TRUE(write([&](Tx& tx) { return begin_password_check(tx, "tina", "10.0.0.1", now_ms() - 60000, 5); }));
  ASSERT_TRUE(attempt("doc", "203.0.113.9").id);
  EXPECT_FALSE(attempt("tina", "203.0.113.9").id);  // locked from that address
  auto cleared = write([&](Tx& tx) { return unlock_account(tx, "tina"); });
  ASSERT_TRUE(cleared) << cleared.error().message;
  EXPECT_EQ(*cleared, 8);
  const auto again = attempt("tina", "203.0.113.9");
  ASSERT_TRUE(again.id);
  EXPECT_EQ(again.failures, 0);
  // Other accounts' failures stay counted.
  EXPECT_EQ(attempt("doc", "203.0.113.9").failures, 1);
  auto none = write([&](Tx& tx) { return unlock_account(tx, "nobody"); });
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0);
}

TEST_P(ThrottleTest, RegistrationsCountPerAddress) {
  for (int k = 0; k < 5; ++k) {
    auto a = write([&](Tx& tx) {
      return begin_registration(tx, "new" + std::to_string(k), "203.0.113.5", now_ms() - 3600000, 5);
    });
    ASSERT_TRUE(a && a->id) << k;
  }
  auto sixth = write([&](Tx& tx) { return begin_registration(tx, "new5", "203.0.113.5", now_ms() - 3600000, 5); });
  ASSERT_TRUE(sixth);
  EXPECT_FALSE(sixth->id);
  EXPECT_EQ(sixth->refused, LoginAttempt::Refused::kAddress);
  auto other = write([&](Tx& tx) { return begin_registration(tx, "new5", "203.0.113.6", now_ms() - 3600000, 5); });
  EXPECT_TRUE(other && other->id);
  EXPECT_TRUE(attempt("new0", "203.0.113.5").id) << "registrations are not sign-in failures";
}

TEST_P(ThrottleTest, SessionsEndAtTheirAbsoluteEndHoweverTheySlide) {
  auto user = write([&](Tx& tx) {
    return create_user(tx, NewUser{"doc", "password1", Role::kDoctor, true, "", "", "", "", ""}, "h");
  });
  ASSERT_TRUE(user);
  const auto now = now_ms();
  ASSERT_TRUE(write([&](Tx& tx) {
    return insert_session(tx, user->id, "tok", "csrf", now + 3600000, "127.0.0.1", "test", now + 1000);
  }));
  auto live = db_->transact(TxMode::kRead, [&](Tx& tx) { return find_session(tx, "tok", now); });
  ASSERT_TRUE(live && *live);
  EXPECT_LE((*live)->session.expires_at, now + 1000) << "the idle end starts capped at the absolute end";
  // Sliding the idle end a day ahead never passes the absolute end.
  ASSERT_TRUE(write([&](Tx& tx) { return touch_session(tx, (*live)->session.id, now, now + 86400000); }));
  auto later = db_->transact(TxMode::kRead, [&](Tx& tx) { return find_session(tx, "tok", now + 2000); });
  ASSERT_TRUE(later);
  EXPECT_FALSE(*later) << "a session outlived its absolute end by sliding";
  // Without an explicit end, a session ends after the default lifetime.
  ASSERT_TRUE(write([&](Tx& tx) {
    return insert_session(tx, user->id, "tok2", "csrf", now + 3600000, "127.0.0.1", "test");
  }));
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
    auto s = find_session(tx, "tok2", now);
    if (!s || !*s) return fail(ErrorCode::kInternal, "no session tok2");
    return touch_session(tx, (*s)->session.id, now, now + 30LL * 86400000);
  }));
  auto month = db_->transact(TxMode::kRead, [&](Tx& tx) { return find_session(tx, "tok2", now + 8LL * 86400000); });
  ASSERT_TRUE(month);
  EXPECT_FALSE(*month);
}

TEST_P(ThrottleTest, EndedSessionsArePurged) {
  auto user = write([&](Tx& tx) {
    return create_user(tx, NewUser{"doc", "password1", Role::kDoctor, true, "", "", "", "", ""}, "h");
  });
  ASSERT_TRUE(user);
  const auto now = now_ms();
  ASSERT_TRUE(write([&](Tx& tx) -> Status {
    MS_RETURN_IF_ERROR(insert_session(tx, user->id, "old", "c", now - 1000, "ip", "ua", now - 500));
    MS_RETURN_IF_ERROR(insert_session(tx, user->id, "live", "c", now + 60000, "ip", "ua"));
    return {};
  }));
  auto purged = write([&](Tx& tx) { return purge_ended_sessions(tx, now); });
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 1);
  EXPECT_EQ(rows("SELECT COUNT(*) AS n FROM sessions"), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, ThrottleTest, ::testing::ValuesIn(ms::testing::test_backends()),
                         ms::testing::backend_name);

}  // namespace
}  // namespace ms::store
