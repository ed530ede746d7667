// Kept answers of a sample's hot read routes (server/sample_answers.h): the review queue's pages
// and the differential are answered from memory while the sample's revision holds, and every
// change to what they show changes the revision, on SQLite and PostgreSQL: reviews through the
// API, a user's new name, a sign-off, and writes by another process (a worker) straight into the
// database. ETag / If-None-Match answers 304 for an unchanged sample.
#include "review_fixture.h"
#include "server/sample_answers.h"
#include "store/database.h"

namespace ms::testing {
namespace {

using server::SampleAnswers;

std::shared_ptr<const std::string> text(const std::string& s) { return std::make_shared<const std::string>(s); }

TEST(SampleAnswers, KeepsAnAnswerOnlyForItsRevision) {
  SampleAnswers cache(1 << 20);
  EXPECT_EQ(cache.find("a", 1), nullptr);
  cache.keep("a", 1, text("one"));
  ASSERT_NE(cache.find("a", 1), nullptr);
  EXPECT_EQ(*cache.find("a", 1), "one");
  EXPECT_EQ(cache.find("a", 2), nullptr) << "a newer revision is a miss";
  EXPECT_EQ(cache.find("b", 1), nullptr);
  cache.keep("a", 3, text("three"));
  EXPECT_EQ(cache.find("a", 1), nullptr);
  EXPECT_EQ(*cache.find("a", 3), "three");
  cache.keep("a", 2, text("two"));
  EXPECT_EQ(*cache.find("a", 3), "three") << "a slow request made at an older revision replaced a newer answer";
  const auto st = cache.stats();
  EXPECT_EQ(st.entries, 1);
  EXPECT_GE(st.hits, 4);
}

TEST(SampleAnswers, StaysWithinItsBytes) {
  const std::size_t limit = 64 << 10;
  SampleAnswers cache(limit);
  const std::string body(4000, 'x');
  for (int k = 0; k < 100; ++k) cache.keep("key" + std::to_string(k), 1, text(body));
  const auto st = cache.stats();
  EXPECT_LE(st.bytes, static_cast<std::int64_t>(limit));
  EXPECT_GT(st.entries, 5);
  EXPECT_LT(st.entries, 100);
  EXPECT_NE(cache.find("key99", 1), nullptr) << "the newest answer was evicted";
  EXPECT_EQ(cache.find("key0", 1), nullptr) << "the oldest answer outlived the limit";
  cache.keep("huge", 1, text(std::string(limit / 2, 'y')));
  EXPECT_EQ(cache.find("huge", 1), nullptr) << "an answer over a quarter of the limit was kept";
}

TEST(SampleAnswers, EtagNamesSampleRevisionAndProcess) {
  SampleAnswers a(1 << 20), b(1 << 20);
  EXPECT_EQ(a.etag(7, 3), a.etag(7, 3));
  EXPECT_NE(a.etag(7, 3), a.etag(7, 4));
  EXPECT_NE(a.etag(7, 3), a.etag(8, 3));
  EXPECT_NE(a.etag(7, 3), b.etag(7, 3)) << "another process (a restart) must not validate an old copy";
  EXPECT_EQ(a.etag(7, 3).front(), '"');
  EXPECT_EQ(a.etag(7, 3).back(), '"');
}

class SampleAnswersApiTest : public ReviewServerTest {
 protected:
  std::string page_url(std::int64_t sample) {
    return "/api/samples/" + std::to_string(sample) + "/cells?order=attention&limit=100";
  }
  std::string diff_url(std::int64_t sample) { return "/api/samples/" + std::to_string(sample) + "/differential"; }
  httplib::Result get_if(const SessionCookies& s, const std::string& path, const std::string& etag) {
    auto h = s.headers(false);
    h.emplace("If-None-Match", etag);
    return client_->Get(path.c_str(), h);
  }
  // Another connection to the server's database, as a worker process would hold.
  std::unique_ptr<store::Database> other_process() {
    auto db = store::open_database(url_->url());
    EXPECT_TRUE(db) << db.error().message;
    return db ? std::move(*db) : nullptr;
  }
  static Json find_cell(const Json& page, std::int64_t id) {
    for (const auto& c : page["items"])
      if (c["id"] == id) return c;
    return Json();
  }
};

TEST_P(SampleAnswersApiTest, UnchangedSampleIsRevalidatedWith304) {
  auto t = user_with_role("tech", "technician");
  const auto sample = analysed_sample(t, "ANS-1", 2);
  auto first = get(t, page_url(sample));
  ASSERT_EQ(first->status, 200) << first->body;
  const std::string etag = first->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(first->get_header_value("Cache-Control"), "no-store") << "patient data stays out of browser caches";
  auto again = get(t, page_url(sample));
  EXPECT_EQ(again->body, first->body);
  EXPECT_EQ(again->get_header_value("ETag"), etag);

  auto same = get_if(t, page_url(sample), etag);
  EXPECT_EQ(same->status, 304);
  EXPECT_TRUE(same->body.empty());
  EXPECT_EQ(same->get_header_value("ETag"), etag);
  EXPECT_EQ(get_if(t, page_url(sample), "W/" + etag)->status, 304);
  EXPECT_EQ(get_if(t, page_url(sample), "\"other\", " + etag)->status, 304);
  EXPECT_EQ(get_if(t, page_url(sample), "\"other\"")->status, 200);

  // Another page or filter is another answer, not the kept one.
  auto flagged = body_json(get(t, "/api/samples/" + std::to_string(sample) + "/cells?flagged=true"));
  EXPECT_EQ(flagged["total"], 2);
  auto two = body_json(get(t, "/api/samples/" + std::to_string(sample) + "/cells?order=attention&limit=2"));
  EXPECT_EQ(two["items"].size(), 2u);
  EXPECT_EQ(two["limit"], 2);

  auto diff = get(t, diff_url(sample));
  ASSERT_EQ(diff->status, 200) << diff->body;
  const std::string diff_etag = diff->get_header_value("ETag");
  EXPECT_EQ(get_if(t, diff_url(sample), diff_etag)->status, 304);
  auto fab = body_json(get(t, diff_url(sample) + "?rule_set=fab"));
  for (const auto& s : fab["suggestions"]) EXPECT_EQ(s["rule_set"], "fab");

  // Errors are answered, never kept, and a stranger's or unknown sample is 404 whatever it sends.
  EXPECT_EQ(get(t, "/api/samples/" + std::to_string(sample) + "/cells?order=random")->status, 400);
  EXPECT_EQ(get(t, diff_url(sample) + "?rule_set=nope")->status, 400);
  EXPECT_EQ(get_if(t, "/api/samples/424242/cells", etag)->status, 404);
  EXPECT_EQ(get_if(t, diff_url(424242), diff_etag)->status, 404);
  EXPECT_EQ(client_->Get(page_url(sample).c_str(), {{"If-None-Match", etag}})->status, 401);
  EXPECT_EQ(get(t, page_url(sample))->body, first->body);
}

TEST_P(SampleAnswersApiTest, EveryChangeIsSeen) {
  auto tech = user_with_role("tech", "technician");
  auto doc = user_with_role("doc", "doctor");
  const auto sample = analysed_sample(tech, "ANS-2", 2);
  auto before = get(tech, page_url(sample));
  const std::string etag0 = before->get_header_value("ETag");
  auto diff0 = body_json(get(tech, diff_url(sample)));
  const auto id = cell_ids(tech, sample, "?class=monocyte")[0];

  // A review through the API.
  ASSERT_EQ(patch(tech, cell_url(id), {{"class", "lymphocyte"}})->status, 200);
  auto after = get_if(tech, page_url(sample), etag0);
  ASSERT_EQ(after->status, 200) << "a reviewed sample was answered 304";
  const std::string etag1 = after->get_header_value("ETag");
  EXPECT_NE(etag1, etag0);
  Json cell = find_cell(body_json(after), id);
  EXPECT_EQ(cell["class"], "lymphocyte");
  EXPECT_EQ(cell["reviewer"]["username"], "tech");
  auto diff1 = body_json(get(tech, diff_url(sample)));
  EXPECT_NE(diff1["differential"].dump(), diff0["differential"].dump());

  // The reviewer's new display name, through their profile.
  const auto me = body_json(get(tech, "/api/session"))["user"]["id"].get<std::int64_t>();
  ASSERT_EQ(patch(tech, "/api/users/" + std::to_string(me), {{"display_name", "Tess Tech"}})->status, 200);
  cell = find_cell(body_json(get_if(tech, page_url(sample), etag1)), id);
  EXPECT_EQ(cell["reviewer"]["display_name"], "Tess Tech");

  // Another process writes the database directly (a worker adding or changing cells).
  auto other = other_process();
  ASSERT_TRUE(other);
  auto changed = other->transact(store::TxMode::kWrite, [&](store::Tx& tx) {
    return tx.exec("UPDATE cells SET suggested_class = 'eosinophil', reviewed_class = NULL, reviewer_id = NULL "
                   "WHERE id = ?", {id});
  });
  ASSERT_TRUE(changed) << changed.error().message;
  cell = find_cell(body_json(get(tech, page_url(sample))), id);
  EXPECT_EQ(cell["class"], "eosinophil") << "a kept page outlived a write by another process";
  auto removed = other->transact(store::TxMode::kWrite, [&](store::Tx& tx) {
    return tx.exec("DELETE FROM cells WHERE id = ?", {id});
  });
  ASSERT_TRUE(removed) << removed.error().message;
  auto page = body_json(get(tech, page_url(sample)));
  EXPECT_EQ(page["total"], 5);
  EXPECT_TRUE(find_cell(page, id).is_null());
  EXPECT_EQ(body_json(get(tech, diff_url(sample)))["cells"], 5);

  // A sign-off: the differential becomes the signed snapshot.
  auto signed_r = sign(doc, sample);
  ASSERT_EQ(signed_r->status, 200) << signed_r->body;
  auto signed_diff = body_json(get(tech, diff_url(sample)));
  EXPECT_EQ(signed_diff["source"], "signed");
  EXPECT_EQ(signed_diff["status"], "signed");

  // A deleted sample is gone from its kept answers too.
  auto gone = other->transact(store::TxMode::kWrite, [&](store::Tx& tx) {
    return tx.exec("DELETE FROM samples WHERE id = ?", {sample});
  });
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(get(tech, page_url(sample))->status, 404);
  EXPECT_EQ(get(tech, diff_url(sample))->status, 404);
}

INSTANTIATE_TEST_SUITE_P(Backends, SampleAnswersApiTest, ::testing::ValuesIn(test_backends()), backend_name);

}  // namespace
}  // namespace ms::testing
