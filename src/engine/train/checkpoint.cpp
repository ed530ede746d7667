#include "engine/train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

namespace ms {

namespace fs = std::filesystem;

Status save_module(const std::string& path, torch::nn::Module& model) {
  const std::string tmp = path + ".tmp";
  try {
    torch::serialize::OutputArchive archive;
    model.save(archive);
    archive.save_to(tmp);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kIo, path + ": cannot write model (" + e.what() + ")");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return fail(ErrorCode::kIo, path + ": cannot rename temporary file: " + ec.message());
  return {};
}

Status load_module(const std::string& path, torch::nn::Module& model) {
  if (!fs::exists(path)) return fail(ErrorCode::kNotFound, path + ": model file not found");
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    model.load(archive);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kCorruptInput, path,
                "parameters matching the model architecture in model.json",
                std::string("an unreadable or mismatched archive (") + e.what() + ")");
  }
  return {};
}

Status save_checkpoint(const std::string& dir, torch::nn::Module& model,
                       torch::optim::Optimizer* optimizer, const TrainerState& state,
                       const Json& config) {
  const fs::path final_dir(dir), tmp_dir(dir + ".tmp"), old_dir(dir + ".old");
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);
  fs::create_directories(tmp_dir, ec);
  if (ec) return fail(ErrorCode::kIo, dir + ": cannot create checkpoint folder: " + ec.message());
  try {
    torch::serialize::OutputArchive m;
    model.save(m);
    m.save_to((tmp_dir / "model.pt").string());
    if (optimizer) {
      torch::serialize::OutputArchive o;
      optimizer->save(o);
      o.save_to((tmp_dir / "optimizer.pt").string());
    }
  } catch (const std::exception& e) {
    return fail(ErrorCode::kIo, dir + ": cannot write checkpoint (" + e.what() + ")");
  }
  if (auto s = write_json_file((tmp_dir / "state.json").string(), config_to_json(state)); !s) return s;
  if (auto s = write_json_file((tmp_dir / "config.json").string(), config); !s) return s;
  // Swap in: a crash between the two renames leaves <dir>.old, which latest_checkpoint ignores
  // but which still holds the previous complete copy.
  fs::remove_all(old_dir, ec);
  if (fs::exists(final_dir)) fs::rename(final_dir, old_dir, ec);
  if (ec) return fail(ErrorCode::kIo, dir + ": cannot move old checkpoint aside: " + ec.message());
  fs::rename(tmp_dir, final_dir, ec);
  if (ec) return fail(ErrorCode::kIo, dir + ": cannot rename checkpoint into place: " + ec.message());
  fs::remove_all(old_dir, ec);
  return {};
}

Status load_checkpoint(const std::string& dir, torch::nn::Module& model,
                       torch::optim::Optimizer* optimizer, TrainerState& state) {
  const fs::path d(dir);
  if (auto s = load_module((d / "model.pt").string(), model); !s) return s;
  if (optimizer) {
    const auto path = (d / "optimizer.pt").string();
    if (!fs::exists(path)) return fail(ErrorCode::kNotFound, path + ": optimizer state not found");
    try {
      torch::serialize::InputArchive o;
      o.load_from(path);
      optimizer->load(o);
    } catch (const std::exception& e) {
      return fail(ErrorCode::kCorruptInput, path, "optimizer state of this run",
                  std::string("an unreadable archive (") + e.what() + ")");
    }
  }
  auto j = read_json_file((d / "state.json").string());
  if (!j) return tl::unexpected(j.error());
  auto st = parse_config<TrainerState>(*j, (d / "state.json").string());
  if (!st) return tl::unexpected(st.error());
  state = *st;
  return {};
}

std::string epoch_checkpoint_dir(const std::string& run_dir, int epoch) {
  char name[32];
  std::snprintf(name, sizeof(name), "epoch_%04d", epoch);
  return (fs::path(run_dir) / "checkpoints" / name).string();
}

namespace {
std::vector<std::pair<int, std::string>> epoch_dirs(const std::string& run_dir) {
  std::vector<std::pair<int, std::string>> out;
  std::error_code ec;
  const fs::path root = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.rfind("epoch_", 0) != 0 || name.size() != 10) continue;
    if (!std::all_of(name.begin() + 6, name.end(), ::isdigit)) continue;
    if (!fs::exists(e.path() / "state.json") || !fs::exists(e.path() / "model.pt")) continue;
    out.emplace_back(std::stoi(name.substr(6)), e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  auto dirs = epoch_dirs(run_dir);
  if (dirs.empty()) return std::nullopt;
  return dirs.back().second;
}

void prune_checkpoints(const std::string& run_dir, int keep) {
  auto dirs = epoch_dirs(run_dir);
  std::error_code ec;
  for (size_t i = 0; i + keep < dirs.size(); ++i) fs::remove_all(dirs[i].second, ec);
}

}  // namespace ms
