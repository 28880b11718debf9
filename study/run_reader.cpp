// read_run / read_runs: run.json, metrics.jsonl and eval.json into a RunRecord, with every error naming its
// file.
#include "study/run_reader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/json.h"

namespace lat::study {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Runs fn; a lat::Error that does not already name `path` is rethrown as "<path>: <message>".
template <class Fn>
auto naming_file(const std::string& path, Fn&& fn) {
  try {
    return fn();
  } catch (const lat::Error& e) {
    const std::string what = e.what();
    if (what.rfind(path, 0) == 0) throw;
    throw lat::Error(path + ": " + what);
  }
}

std::optional<double> optional_number(const Json& obj, const std::string& key) {
  const Json* v = obj.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->as_double(key);
}

// A number that the trainer writes as null when it was not finite.
double number_or_nan(const Json& obj, const std::string& key) {
  const Json& v = obj.at(key);
  return v.is_null() ? kNaN : v.as_double(key);
}

SplitScore read_split(const Json& obj, const std::string& name) {
  const Json& s = obj.at(name);
  SplitScore score;
  score.loss = number_or_nan(s, "loss");
  score.bits_per_byte = optional_number(s, "bits_per_byte");
  score.accuracy = optional_number(s, "accuracy");
  if (const Json* t = s.find("tokens")) score.tokens = t->as_int(name + ".tokens");
  if (const Json* e = s.find("examples")) score.examples = e->as_int(name + ".examples");
  return score;
}

void read_eval(const Json& e, RunRecord& r) {
  r.parameters = e.at("parameters").as_int("parameters");
  r.state_floats = e.at("state_floats").as_int("state_floats");
  r.tokens = e.at("tokens").as_int("tokens");
  r.steps = e.at("steps").as_int("steps");
  r.wall_s = number_or_nan(e, "wall_s");
  r.tokens_per_s = number_or_nan(e, "tokens_per_s");
  r.peak_memory_mib = number_or_nan(e, "peak_memory_mib");
  if (const Json* d = e.find("device")) r.device = d->as_string("device");
  if (const Json* b = e.find("byte_level")) r.byte_level = b->as_bool("byte_level");
  r.val = read_split(e, "val");
  r.test = read_split(e, "test");
  if (const Json* positions = e.find("positions")) {
    for (const Json& p : positions->items()) {
      PositionProfile profile;
      profile.length = p.at("length").as_int("positions[].length");
      if (const Json* a = p.find("available")) profile.available = a->as_bool("positions[].available");
      if (const Json* reason = p.find("reason")) profile.reason = reason->as_string("positions[].reason");
      if (const Json* buckets = p.find("buckets")) {
        for (const Json& b : buckets->items()) {
          PositionBucket bucket;
          bucket.begin = b.at("begin").as_int("buckets[].begin");
          bucket.end = b.at("end").as_int("buckets[].end");
          bucket.loss = number_or_nan(b, "loss");
          profile.buckets.push_back(bucket);
        }
      }
      r.positions.push_back(std::move(profile));
    }
  }
  r.finished = true;
}

}  // namespace

std::vector<CurvePoint> parse_metrics(const std::string& text, const std::string& source) {
  struct Row {
    CurvePoint point;
    int invocation = 0;
  };
  std::map<int64_t, Row> by_step;  // the row written last for each step
  std::istringstream in(text);
  std::string line;
  int line_number = 0, invocation = 0;
  std::optional<CurvePoint> previous;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = source + ":" + std::to_string(line_number);
    const Json row = naming_file(where, [&] { return Json::parse(line, where); });
    CurvePoint p = naming_file(where, [&] {
      CurvePoint q;
      q.step = row.at("step").as_int("step");
      q.loss = number_or_nan(row, "loss");
      if (row.find("elapsed_s")) q.elapsed_s = number_or_nan(row, "elapsed_s");
      if (row.find("tokens_per_s")) q.tokens_per_s = number_or_nan(row, "tokens_per_s");
      q.val_loss = optional_number(row, "val_loss");
      q.accuracy = optional_number(row, "accuracy");
      return q;
    });
    if (previous && (p.step <= previous->step || p.elapsed_s < previous->elapsed_s)) ++invocation;
    previous = p;
    by_step[p.step] = Row{p, invocation};
  }
  std::vector<CurvePoint> curve;
  double offset = 0;
  const Row* last = nullptr;
  for (const auto& [step, row] : by_step) {
    if (last && row.invocation != last->invocation) offset = curve.back().elapsed_s;
    CurvePoint p = row.point;
    p.elapsed_s += offset;
    curve.push_back(p);
    last = &row;
  }
  return curve;
}

RunRecord read_run(const std::string& study_dir, const std::string& run_dir_relative) {
  const fs::path dir = fs::path(study_dir) / run_dir_relative;
  RunRecord r;
  r.dir = fs::path(run_dir_relative).lexically_normal().generic_string();
  if (!r.dir.empty() && r.dir.back() == '/') r.dir.pop_back();

  const std::string run_json = (dir / "run.json").string();
  naming_file(run_json, [&] {
    const Json j = Json::parse_file(run_json);
    r.variant = j.at("variant").as_string("variant");
    r.lr = j.at("lr").as_double("lr");
    r.seed = j.at("seed").as_int("seed");
    if (const Json* axes = j.find("axes")) {
      if (!axes->is_object()) LAT_THROW("axes should be an object");
      for (const auto& [key, value] : axes->members())
        r.axes[key] = value.is_string() ? value.as_string(key) : value.dump();
    }
    if (const Json* overrides = j.find("overrides"))
      for (const Json& o : overrides->items()) r.overrides.push_back(o.as_string("overrides[]"));
    return 0;
  });

  const fs::path metrics = dir / "metrics.jsonl";
  if (fs::exists(metrics)) {
    std::ifstream in(metrics, std::ios::binary);
    if (!in) LAT_THROW("cannot open '", metrics.string(), "': ", std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    r.curve = parse_metrics(text.str(), metrics.string());
  }

  const std::string eval_json = (dir / "eval.json").string();
  if (fs::exists(eval_json))
    naming_file(eval_json, [&] {
      read_eval(Json::parse_file(eval_json), r);
      return 0;
    });
  return r;
}

std::vector<RunRecord> read_runs(const std::string& study_dir) {
  const fs::path runs = fs::path(study_dir) / "runs";
  if (!fs::is_directory(runs)) LAT_THROW("study directory '", study_dir, "' has no runs/ folder");
  std::vector<std::string> dirs;
  for (const auto& entry : fs::recursive_directory_iterator(runs))
    if (entry.is_regular_file() && entry.path().filename() == "run.json")
      dirs.push_back(entry.path().parent_path().lexically_relative(study_dir).generic_string());
  std::sort(dirs.begin(), dirs.end());
  std::vector<RunRecord> records;
  for (const std::string& d : dirs) records.push_back(read_run(study_dir, d));
  return records;
}

}  // namespace lat::study
