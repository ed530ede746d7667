#pragma once
// The API contract, checked on every answer the server tests receive: LabServerTest's client
// hands each request and answer to ApiContract::check, which finds the operation in the server's
// own /api/openapi.json and validates the status (listed for the operation), the media type and,
// for JSON, the body against the operation's schema. Any mismatch fails the test that received
// the answer, so the document and the code cannot drift apart unnoticed. The operations that
// answered successfully are recorded; a full run of test_server fails when one of the document's
// operations never did (api_contract_test.cpp).
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/config.h"
#include "core/json_schema.h"

namespace ms::testing {

class ApiContract {
 public:
  static ApiContract& instance() {
    static ApiContract c;
    return c;
  }

  // The document of the server under test; every server of the suite serves the same one.
  void load(const Json& doc) {
    std::lock_guard<std::mutex> lock(mu_);
    if (doc == doc_) return;
    doc_ = doc;
    operations_.clear();
    for (auto p = doc_["paths"].begin(); p != doc_["paths"].end(); ++p) {
      std::string re;
      for (std::size_t i = 0; i < p.key().size(); ++i) {
        const char ch = p.key()[i];
        if (ch == '{') {
          i = p.key().find('}', i);
          re += "[0-9]+";
        } else if (std::string(".+*?()[]|^$\\").find(ch) != std::string::npos) {
          re += std::string("\\") + ch;
        } else {
          re += ch;
        }
      }
      for (auto m = p.value().begin(); m != p.value().end(); ++m) {
        std::string method = m.key();
        for (auto& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        operations_.push_back({method, p.key(), std::regex(re)});
      }
    }
  }

  const Json& document() const { return doc_; }

  // Every "METHOD /path/{id}" of the document.
  std::set<std::string> operations() const {
    std::set<std::string> out;
    for (const auto& op : operations_) out.insert(op.method + " " + op.path);
    return out;
  }
  std::set<std::string> answered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return answered_;
  }

  // Fails the current test (naming the request) when the answer is not what the document says.
  void check(const httplib::Request& req, const httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    if (doc_.is_null()) return;
    const std::string path = req.path.substr(0, req.path.find('?'));
    if (path.rfind("/api/", 0) != 0) return;  // the web app's files
    const std::string what = req.method + " " + req.path + " -> " + std::to_string(res.status);
    const Operation* op = nullptr;
    bool path_known = false;
    for (const auto& o : operations_) {
      if (!std::regex_match(path, o.re)) continue;
      path_known = true;
      if (o.method == req.method) op = &o;
    }
    if (!op) {
      // No such operation: the HTTP layer's 404 / 405, which must still be the one error shape.
      const int expected = path_known ? 405 : 404;
      if (res.status != expected) ADD_FAILURE() << what << ": expected " << expected << " for an operation the document does not list";
      expect_json(doc_["components"]["schemas"]["Error"], res, what);
      return;
    }
    const Json& responses = doc_["paths"][op->path][lower(op->method)]["responses"];
    const std::string status = std::to_string(res.status);
    const Json* answer = nullptr;
    if (responses.contains(status)) answer = &responses[status];
    else if (kTransportStatuses.count(res.status)) answer = &responses["default"];
    if (!answer) {
      ADD_FAILURE() << what << ": status " << status << " is not in the document's responses of "
                    << op->method << " " << op->path << " (" << res.body.substr(0, 300) << ")";
      return;
    }
    if (res.status >= 200 && res.status < 300) {
      answered_.insert(op->method + " " + op->path);
      // What the server accepted must be what the document says it takes.
      check_request(doc_["paths"][op->path][lower(op->method)], req, what);
    }
    if (!answer->contains("content")) {
      if (!res.body.empty()) ADD_FAILURE() << what << ": the document says no body, the server sent " << res.body.size() << " bytes";
      return;
    }
    const std::string type = media_type(res.get_header_value("Content-Type"));
    for (auto m = (*answer)["content"].begin(); m != (*answer)["content"].end(); ++m) {
      const std::string& documented = m.key();
      const bool fits = documented == type ||
                        (documented.size() > 2 && documented.substr(documented.size() - 2) == "/*" &&
                         type.rfind(documented.substr(0, documented.size() - 1), 0) == 0);
      if (!fits) continue;
      if (documented == "application/json") expect_json(m.value()["schema"], res, what);
      return;
    }
    ADD_FAILURE() << what << ": Content-Type '" << type << "' is not one the document lists: " << (*answer)["content"].dump();
  }

 private:
  struct Operation {
    std::string method, path;
    std::regex re;
  };
  // Answered by the HTTP layer for any route; the document lists them under "default".
  inline static const std::set<int> kTransportStatuses = {405, 408, 411, 413, 414, 431, 503, 505};

  static std::string lower(std::string s) {
    for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }
  static std::string media_type(const std::string& header) {
    std::string t = lower(header.substr(0, header.find(';')));
    while (!t.empty() && t.back() == ' ') t.pop_back();
    return t;
  }
  // The query parameters and the JSON body of a request the server accepted: each parameter must
  // be one the operation lists, with a value of its schema (numbers as their digits), and the
  // body must fit the operation's request body.
  void check_request(const Json& op, const httplib::Request& req, const std::string& what) {
    const auto q = req.path.find('?');
    const Json params = op.value("parameters", Json::array());
    if (q != std::string::npos) {
      std::string rest = req.path.substr(q + 1);
      while (!rest.empty()) {
        const std::string pair = rest.substr(0, rest.find('&'));
        rest = rest.find('&') == std::string::npos ? "" : rest.substr(rest.find('&') + 1);
        const std::string name = pair.substr(0, pair.find('='));
        const std::string value = pair.find('=') == std::string::npos ? "" : httplib::detail::decode_url(pair.substr(pair.find('=') + 1), true);
        const Json* param = nullptr;
        for (const auto& p : params)
          if (p["in"] == "query" && p["name"] == name) param = &p;
        if (!param) {
          ADD_FAILURE() << what << ": query parameter '" << name << "' is not in the document";
          continue;
        }
        Json v = value;
        const std::string type = (*param)["schema"].value("type", "");
        if (type == "integer" || type == "number") {
          v = Json::parse(value, nullptr, false);
          if (v.is_discarded()) v = value;
        }
        for (const auto& e : validate_json((*param)["schema"], v, doc_))
          ADD_FAILURE() << what << ": query parameter '" << name << "' " << e;
      }
    }
    const std::string type = media_type(req.get_header_value("Content-Type"));
    if (type != "application/json" || req.body.empty()) return;
    const Json body = Json::parse(req.body, nullptr, false);
    if (!op.contains("requestBody") || !op["requestBody"]["content"].contains("application/json")) {
      // Operations without a body ignore an empty one, as clients send ({} or null).
      if (!body.is_null() && body != Json::object())
        ADD_FAILURE() << what << ": the server accepted a JSON body the document does not list: " << req.body.substr(0, 200);
      return;
    }
    for (const auto& e : validate_json(op["requestBody"]["content"]["application/json"]["schema"], body, doc_))
      ADD_FAILURE() << what << ": the accepted request body does not fit the document: " << e;
  }

  void expect_json(const Json& schema, const httplib::Response& res, const std::string& what) {
    if (media_type(res.get_header_value("Content-Type")) != "application/json") {
      ADD_FAILURE() << what << ": expected application/json, found '" << res.get_header_value("Content-Type") << "'";
      return;
    }
    const Json body = Json::parse(res.body, nullptr, false);
    if (body.is_discarded()) {
      ADD_FAILURE() << what << ": the body is not JSON: " << res.body.substr(0, 200);
      return;
    }
    const auto errors = validate_json(schema, body, doc_);
    if (errors.empty()) return;
    std::string listed;
    for (std::size_t i = 0; i < errors.size() && i < 10; ++i) listed += "\n  " + errors[i];
    ADD_FAILURE() << what << ": the answer does not fit the document (" << errors.size() << " problem(s)):" << listed
                  << "\n  body: " << res.body.substr(0, 500);
  }

  mutable std::mutex mu_;
  Json doc_;
  std::vector<Operation> operations_;
  std::set<std::string> answered_;
};

// Points `client` at the contract: every answer it receives is checked. The document is read from
// the server on `port` first (a client of its own, so that answer is not checked against itself).
inline void check_answers_against_contract(httplib::Client& client, int port) {
  httplib::Client plain("127.0.0.1", port);
  auto r = plain.Get("/api/openapi.json");
  ASSERT_TRUE(r) << "GET /api/openapi.json: no answer";
  ASSERT_EQ(r->status, 200) << r->body;
  const Json doc = Json::parse(r->body, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << "GET /api/openapi.json is not a JSON object";
  ApiContract::instance().load(doc);
  client.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    ApiContract::instance().check(req, res);
  });
}

}  // namespace ms::testing
