#include "study/runner.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/allocator.h"
#include "core/error.h"
#include "core/log.h"
#include "study/evaluate.h"
#include "core/json.h"
#include "study/run_reader.h"
#include "trainers/checkpoint.h"
#include "trainers/communicator.h"
#include "trainers/setup.h"
#include "trainers/trainer.h"

namespace lat::study {
namespace fs = std::filesystem;

namespace {

Json split_json(const SplitScore& s) {
  Json j = Json::object();
  j.set("loss", Json(s.loss));
  j.set("bits_per_byte", s.bits_per_byte ? Json(*s.bits_per_byte) : Json());
  j.set("accuracy", s.accuracy ? Json(*s.accuracy) : Json());
  j.set("tokens", Json(s.tokens));
  j.set("examples", Json(s.examples));
  return j;
}

std::string run_json(const StudyRun& run) {
  Json j = Json::object();
  j.set("variant", Json(run.variant));
  j.set("lr", Json(run.lr));
  j.set("seed", Json(run.seed));
  Json axes = Json::object();
  for (const auto& [k, v] : run.axes) axes.set(k, Json(v));
  j.set("axes", axes);
  Json overrides = Json::array();
  for (const std::string& o : run.overrides) overrides.push_back(Json(o));
  j.set("overrides", overrides);
  return j.dump() + "\n";
}

// The recurrent state one attention layer carries per sequence while generating (0 for softmax, whose KV cache
// grows with the context instead).
int64_t state_floats(const autograd::nn::LanguageModel& model) {
  const auto blocks = model.blocks();
  return blocks.empty() ? 0 : blocks.front()->attention().state_floats_per_layer();
}

std::string eval_json(const StudyRun& run, const autograd::nn::LanguageModel& model, const Evaluation& e,
                      const RunRecord& trained, double peak_mib, const std::string& device) {
  Json j = Json::object();
  j.set("parameters", Json(model.parameter_count()));
  j.set("state_floats", Json(state_floats(model)));
  const int64_t tokens_per_step = run.recipe.training.batch_size * run.recipe.training.seq_len * run.recipe.training.grad_accum;
  j.set("tokens", Json(tokens_per_step * run.recipe.training.steps));
  j.set("steps", Json(run.recipe.training.steps));
  // Wall time over every invocation (the reader's cumulative elapsed), throughput as the median of the logged
  // intervals after the first (which holds start-up and the first evaluation).
  j.set("wall_s", Json(trained.curve.empty() ? 0.0 : trained.curve.back().elapsed_s));
  std::vector<double> rates;
  for (size_t i = 1; i < trained.curve.size(); ++i) rates.push_back(trained.curve[i].tokens_per_s);
  if (rates.empty() && !trained.curve.empty()) rates.push_back(trained.curve.front().tokens_per_s);
  std::sort(rates.begin(), rates.end());
  j.set("tokens_per_s", Json(rates.empty() ? 0.0 : rates[rates.size() / 2]));
  j.set("peak_memory_mib", Json(peak_mib));
  j.set("device", Json(device));
  j.set("byte_level", Json(trainers::byte_level(run.recipe)));
  j.set("val", split_json(e.val));
  j.set("test", split_json(e.test));
  Json positions = Json::array();
  for (const PositionProfile& p : e.positions) {
    Json pj = Json::object();
    pj.set("length", Json(p.length));
    pj.set("available", Json(p.available));
    if (!p.available) pj.set("reason", Json(p.reason));
    Json buckets = Json::array();
    for (const PositionBucket& b : p.buckets) {
      Json bj = Json::object();
      bj.set("begin", Json(b.begin));
      bj.set("end", Json(b.end));
      bj.set("loss", std::isfinite(b.loss) ? Json(b.loss) : Json());
      buckets.push_back(bj);
    }
    pj.set("buckets", buckets);
    positions.push_back(pj);
  }
  j.set("positions", positions);
  return j.dump() + "\n";
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) LAT_THROW("cannot write '", tmp, "': ", std::strerror(errno));
    out << text;
    if (!out.flush()) LAT_THROW("cannot write '", tmp, "': ", std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) LAT_THROW("cannot rename '", tmp, "' to '", path, "': ", ec.message());
}

RunOutcome run_one(const Study& study, const StudyRun& run, const std::string& study_dir) {
  const fs::path dir = fs::path(study_dir) / run.dir;
  if (fs::exists(dir / "eval.json")) return RunOutcome::AlreadyFinished;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) LAT_THROW("run directory '", dir.string(), "' cannot be created: ", ec.message());
  write_file_atomically((dir / "run.json").string(), run_json(run));

  trainers::TrainOptions options;
  options.run_dir = dir.string();
  // A run killed before its first checkpoint starts again from step 0, over its own partial metrics.jsonl.
  if (!list_checkpoints((dir / run.recipe.checkpoint.dir).string()).empty()) options.resume = "auto";
  else options.overwrite = true;
  const Device device = trainers::resolve_device(run.recipe);
  allocator_for(device).reset_peak();
  auto comm = trainers::make_single_communicator();
  trainers::Trainer trainer(run.recipe, options, *comm);
  trainers::Trainer::install_signal_handlers();
  const trainers::TrainResult result = trainer.run();
  if (result.interrupted) return RunOutcome::Interrupted;

  EvalOptions eval_options;
  eval_options.max_tokens = study.eval_tokens;
  eval_options.length_multiples = study.eval_lengths;
  const Evaluation evaluation = evaluate(trainer.model(), run.recipe, eval_options);
  const double peak_mib = static_cast<double>(allocator_for(device).peak_bytes()) / (1024.0 * 1024.0);
  const RunRecord trained = read_run(study_dir, run.dir);
  write_file_atomically((dir / "eval.json").string(),
                        eval_json(run, trainer.model(), evaluation, trained, peak_mib, device.str()));
  log_info("{}: val loss {:.4f}, test loss {:.4f}{}", run.dir, evaluation.val.loss, evaluation.test.loss,
           evaluation.test.accuracy ? fmt::format(", test accuracy {:.4f}", *evaluation.test.accuracy) : "");
  return RunOutcome::Finished;
}

std::vector<std::string> describe_runs(const std::vector<const StudyRun*>& runs) {
  // Parameter counts depend on the model and data, not on lr or seed: build each distinct model once, on the CPU.
  std::map<std::string, int64_t> parameters;
  std::vector<std::string> lines;
  for (const StudyRun* run : runs) {
    Recipe shape = run->recipe;
    shape.optimizer.lr = 0;
    shape.training.seed = 0;
    const std::string key = shape.to_toml();
    auto it = parameters.find(key);
    if (it == parameters.end()) {
      const auto source = trainers::make_window_source(run->recipe);
      autograd::nn::LanguageModelConfig config =
          trainers::model_config(run->recipe, trainers::resolved_vocab_size(run->recipe, *source));
      it = parameters.emplace(key, autograd::nn::LanguageModel(config, Device::cpu()).parameter_count()).first;
    }
    const TrainingConfig& t = run->recipe.training;
    const int64_t tokens = t.batch_size * t.seq_len * t.grad_accum * t.steps;
    lines.push_back(fmt::format("{:>4}  {}  {} parameters  {} steps x {} tokens = {} tokens", run->index, run->dir,
                                it->second, t.steps, t.batch_size * t.seq_len * t.grad_accum, tokens));
  }
  return lines;
}

}  // namespace lat::study
