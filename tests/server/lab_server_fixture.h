#pragma once
// A real lab server on a free port with a real database (SQLite, and PostgreSQL when
// MARROWSCOPE_TEST_PG is set), driven over real HTTP with cpp-httplib's client, whose every
// answer is checked against the API document (api_contract.h).
//
// The analysis runner here is a test double, not a model: TestDoubleRunner returns three cells
// at fixed positions for any decodable image, so tests can check what the queue stores. The third
// cell says its classifier crop was kThirdCropSide pixels wide (as the pipeline's red-cell ruler
// would); the others leave it unrecorded.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <opencv2/imgproc.hpp>

#include "core/config.h"
#include "core/image.h"
#include "server/api_contract.h"
#include "server/lab_server.h"
#include "server/test_database.h"

namespace ms::testing {

inline constexpr int kThirdCropSide = 30;

class TestDoubleRunner : public store::AnalysisRunner {
 public:
  std::string name() const override { return "test double (three fixed cells per image; not a model)"; }
  Result<store::AnalysisOutput> analyse(const store::AnalysisInput& in,
                                        const std::function<void(double)>& progress) override {
    last_um_per_px = in.um_per_px;
    int width = 0;
    float ox = 0, oy = 0;
    if (in.region) {
      // An area of a slide: the cells lie inside it, in slide pixels (the slide is not decoded).
      last_region_x = in.region->x;
      last_region_w = in.region->w;
      ox = float(in.region->x);
      oy = float(in.region->y);
    } else {
      auto image = read_image(in.image_path);
      if (!image) return tl::unexpected(image.error());
      width = image->cols;
    }
    if (width == 13 && fail_thirteen_wide.fetch_sub(1) > 0)
      return fail(ErrorCode::kInternal, "test double: refusing a 13-pixel-wide image on purpose");
    for (int k = 1; k <= 4; ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load() / 4));
      progress(k / 4.0);
    }
    ++analyses;
    store::AnalysisOutput out;
    out.detector_version = "test-detector";
    out.classifier_version = "test-classifier";
    const char* classes[] = {"neutrophil", "lymphocyte", "monocyte"};
    for (int k = 0; k < 3; ++k) {
      store::AnalysedCell c;
      c.box = Box{ox + 4.f + 10 * k, oy + 4.f, ox + 12.f + 10 * k, oy + 12.f};
      c.det_score = 0.9f - 0.1f * k;
      c.cell_class = classes[k];
      c.probability = 0.7f;
      c.top_k = {{classes[k], 0.7f}, {classes[(k + 1) % 3], 0.2f}};
      c.entropy = 0.8f;
      c.flagged = k == 2;
      if (k == 2) c.crop_side = kThirdCropSide;
      out.cells.push_back(c);
    }
    return out;
  }
  std::atomic<int> delay_ms{0};
  std::atomic<int> fail_thirteen_wide{0};
  std::atomic<int> analyses{0};
  std::atomic<double> last_um_per_px{-1.0};  // the declared scale the last analysis was given
  std::atomic<std::int64_t> last_region_x{-1}, last_region_w{-1};  // the last area analysed
};

// A PNG of `n` coloured discs on white; different seeds give different bytes.
inline std::string disc_png(int seed, int width = 64, int height = 48) {
  cv::Mat img(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  for (int k = 0; k < 3; ++k)
    cv::circle(img, cv::Point(10 + 15 * k, height / 2), 5,
               cv::Scalar((seed * 37 + k * 80) % 256, (seed * 91) % 256, 120), cv::FILLED);
  auto png = encode_image(img, ".png");
  return std::string(png->begin(), png->end());
}

struct SessionCookies {
  std::string cookie, csrf;
  httplib::Headers headers(bool with_csrf = true) const {
    httplib::Headers h{{"Cookie", cookie}};
    if (with_csrf) h.emplace("X-CSRF-Token", csrf);
    return h;
  }
};

inline constexpr const char* kAdminPassword = "admin-password-1";

class LabServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    url_ = std::make_unique<TestDatabaseUrl>(GetParam(), dir_);
    options_.data_dir = dir_.str() + "/data";
    options_.port = 0;
    options_.db_url = url_->url();
    options_.workers = 2;
    options_.web_root = dir_.str() + "/web";
    options_.admin_password = kAdminPassword;
    options_.password_cost = server::PasswordCost::minimum();
    options_.job_poll_ms = 50;
    options_.job_lease_ms = 1500;
    options_.max_upload_bytes = 4u << 20;
    options_.max_image_bytes = 1u << 20;
    runner_ = std::make_shared<TestDoubleRunner>();
    if (start_in_setup_) start_server();
  }
  void TearDown() override {
    client_.reset();
    if (server_) server_->stop();
    server_.reset();
    url_.reset();
  }
  void start_server() {
    auto s = server::LabServer::create(options_, runner_);
    ASSERT_TRUE(s) << s.error().message;
    server_ = std::move(*s);
    auto started = server_->start();
    ASSERT_TRUE(started) << started.error().message;
    connect(server_->port());
  }
  // Every answer client_ receives is checked against the server's /api/openapi.json.
  void connect(int port) {
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port);
    client_->set_read_timeout(30);
    check_answers_against_contract(*client_, port);
  }

  static Json body_json(const httplib::Result& r) {
    if (!r) return Json();
    return Json::parse(r->body, nullptr, false);
  }
  static std::string error_code(const httplib::Result& r) {
    Json j = body_json(r);
    return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
  }

  SessionCookies login(const std::string& user, const std::string& password, int expect = 200) {
    auto r = client_->Post("/api/auth/login", Json{{"username", user}, {"password", password}}.dump(),
                           "application/json");
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, expect) << r->body;
    SessionCookies s;
    const std::string set = r->get_header_value("Set-Cookie");
    s.cookie = set.substr(0, set.find(';'));
    Json j = body_json(r);
    if (j.is_object()) s.csrf = j.value("csrf_token", "");
    return s;
  }
  SessionCookies admin() { return login("admin", kAdminPassword); }
  // Creates an enabled account with a role and signs it in.
  SessionCookies user_with_role(const std::string& name, const std::string& role) {
    auto a = admin();
    auto r = post(a, "/api/users", {{"username", name}, {"password", "password-" + name}, {"role", role}});
    EXPECT_EQ(r ? r->status : 0, 201) << (r ? r->body : "no response");
    return login(name, "password-" + name);
  }

  httplib::Result get(const SessionCookies& s, const std::string& path) {
    return client_->Get(path.c_str(), s.headers(false));
  }
  httplib::Result post(const SessionCookies& s, const std::string& path, const Json& body) {
    return client_->Post(path.c_str(), s.headers(), body.dump(), "application/json");
  }
  httplib::Result patch(const SessionCookies& s, const std::string& path, const Json& body) {
    return client_->Patch(path.c_str(), s.headers(), body.dump(), "application/json");
  }
  httplib::Result del(const SessionCookies& s, const std::string& path) {
    return client_->Delete(path.c_str(), s.headers());
  }
  httplib::Result upload(const SessionCookies& s, std::int64_t sample_id,
                         const std::vector<std::pair<std::string, std::string>>& files) {
    httplib::MultipartFormDataItems items;
    for (const auto& [name, bytes] : files) items.push_back({"files", bytes, name, "application/octet-stream"});
    return client_->Post(("/api/samples/" + std::to_string(sample_id) + "/images").c_str(), s.headers(), items);
  }
  // A patient with one bone-marrow sample; returns the sample id.
  std::int64_t make_sample(const SessionCookies& s, const std::string& accession) {
    auto p = post(s, "/api/patients", {{"identifier", "MRN-" + accession}, {"name", "Patient " + accession}});
    EXPECT_EQ(p ? p->status : 0, 201) << (p ? p->body : "");
    const auto pid = body_json(p).value("id", 0);
    auto r = post(s, "/api/patients/" + std::to_string(pid) + "/samples",
                  {{"accession", accession}, {"specimen", "bone_marrow"}, {"collection_date", "2026-01-15"}});
    EXPECT_EQ(r ? r->status : 0, 201) << (r ? r->body : "");
    return body_json(r).value("id", 0);
  }
  // Signs a sample the only way there is, the report's POST /sign, as `doctor`, allowing
  // unreviewed cells. The test double's "neutrophil" is not a class of the report taxonomy
  // (unmapped classes block sign-off), so those cells are reclassified segmented_neutrophil first.
  httplib::Result sign(const SessionCookies& doctor, std::int64_t sample_id) {
    const std::string id = std::to_string(sample_id);
    Json ids = Json::array();
    const Json list = body_json(get(doctor, "/api/samples/" + id + "/cells?class=neutrophil"));
    if (list.is_object())
      for (const auto& c : list["items"]) ids.push_back(c["id"]);
    if (!ids.empty()) {
      auto r = post(doctor, "/api/cells/review", {{"ids", ids}, {"class", "segmented_neutrophil"}});
      EXPECT_EQ(r ? r->status : 0, 200) << (r ? r->body : "no response");
    }
    return post(doctor, "/api/samples/" + id + "/sign", {{"allow_unreviewed", true}});
  }
  // Polls the sample's progress until no job is queued or running.
  Json wait_for_jobs(const SessionCookies& s, std::int64_t sample_id, int timeout_ms = 20000) {
    Json p;
    for (int waited = 0; waited < timeout_ms; waited += 50) {
      p = body_json(get(s, "/api/samples/" + std::to_string(sample_id) + "/progress"));
      if (p.is_object() && p.value("queued", 1) == 0 && p.value("running", 1) == 0) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "jobs did not finish: " << p.dump();
    return p;
  }

  bool start_in_setup_ = true;
  TempDir dir_;
  std::unique_ptr<TestDatabaseUrl> url_;
  server::ServerOptions options_;
  std::shared_ptr<TestDoubleRunner> runner_;
  std::unique_ptr<server::LabServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace ms::testing
