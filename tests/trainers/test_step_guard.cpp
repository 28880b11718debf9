// The NaN / spike guard (optim/step_guard.h, trainers/skip_monitor.h): the device rule against a hand-written
// double reference, a skipped step leaving parameters and moments bit for bit as they were, the test-only
// fault seam (a NaN gradient at step k, an out-of-vocabulary target at step m) through the session and the
// trainer, and the stop after training.max_skipped_steps that keeps the last good checkpoint.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/optim.h"
#include "optim/step_guard.h"
#include "support/shell.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "support/tool_files.h"
#include "trainers/checkpoint.h"
#include "trainers/session.h"

using namespace lat;
using lat::testing::error_of;
using lat::testing::TempDir;
using optim::SkipReason;
namespace fs = std::filesystem;

namespace {

Recipe tiny_recipe(const TempDir& dir, std::vector<std::string> overrides = {}) {
  overrides.push_back("data.path=" + dir.write("corpus.txt", lat::testing::tiny_corpus()));
  return Recipe::from_string(lat::testing::kTinyRecipe, "tiny.toml", overrides);
}

// Every parameter and both AdamW moments, as flat double vectors, by name.
std::map<std::string, std::vector<double>> snapshot(trainers::TrainingSession& s) {
  std::map<std::string, std::vector<double>> out;
  const optim::AdamWState st = s.optimizer().state();
  for (const auto& p : s.parameters()) {
    out["p " + p.name] = p.variable.data().to_vector<double>();
    out["m " + p.name] = st.exp_avg.at(p.name).to_vector<double>();
    out["v " + p.name] = st.exp_avg_sq.at(p.name).to_vector<double>();
  }
  return out;
}

// Sets an environment variable for its lifetime (the trainer reads the fault seam from the environment).
struct ScopedEnv {
  std::string name;
  ScopedEnv(const std::string& n, const std::string& value) : name(n) {
    ::setenv(n.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

// The rule of optim/step_guard.h written out independently, in double.
struct ReferenceGuard {
  double beta = 0.98;
  int warmup = 20;
  double loss_z = 0, norm_z = 0;
  double lm = 0, lv = 0, nm = 0, nv = 0;
  int applied = 0;
  static void update(double x, double beta, bool first, double& mean, double& var) {
    if (first) {
      mean = x, var = 0;
    } else {
      const double d = x - mean;
      mean = mean + (1 - beta) * d;
      var = beta * (var + (1 - beta) * d * d);
    }
  }
  int judge(double loss, double norm, double invalid) {
    if (invalid > 0) return 1;
    if (!std::isfinite(loss)) return 2;
    if (!std::isfinite(norm)) return 3;
    if (applied >= warmup && loss_z > 0 && lv > 0 && (loss - lm) / std::sqrt(lv) > loss_z) return 4;
    if (applied >= warmup && norm_z > 0 && nv > 0 && (norm - nm) / std::sqrt(nv) > norm_z) return 5;
    update(loss, beta, applied == 0, lm, lv);
    update(norm, beta, applied == 0, nm, nv);
    ++applied;
    return 0;
  }
};

int verdict_of(const Tensor& sum_squares, double loss, double invalid, const kernels::StepGuardParams& p,
               Tensor& state, double* norm = nullptr, double* factor = nullptr) {
  Tensor n = Tensor::empty(Shape{}, DType::F64), f = Tensor::empty(Shape{}, DType::F64),
         v = Tensor::empty(Shape{}, DType::F64);
  kernels::guard_step(sum_squares, Tensor::full(Shape{}, loss, DType::F32),
                      Tensor::full(Shape{}, invalid, DType::F32), p, state, n, f, v);
  if (norm) *norm = n.item();
  if (factor) *factor = f.item();
  return static_cast<int>(v.item());
}

}  // namespace

TEST_CASE("step guard: the device rule agrees with a double reference over a run with spikes and NaNs") {
  kernels::StepGuardParams p;
  p.loss_z = 4.0;
  p.norm_z = 5.0;
  p.warmup_steps = 20;
  p.max_norm = 1.5;
  ReferenceGuard ref;
  ref.loss_z = p.loss_z, ref.norm_z = p.norm_z;
  Tensor state = Tensor::zeros(Shape{kernels::kGuardStateSize}, DType::F64);
  int counts[6] = {};
  for (int i = 0; i < 200; ++i) {
    // A slowly falling loss with noise, a noisy norm; spikes, NaNs, infinities and bad targets now and then.
    double loss = 5.0 - 0.01 * i + 0.05 * std::sin(1.7 * i), norm = 1.0 + 0.2 * std::cos(0.9 * i),
           invalid = 0;
    if (i % 37 == 30) loss *= 3;
    if (i % 41 == 35) norm *= 20;
    if (i == 50) loss = std::nan("");
    if (i == 60) norm = std::numeric_limits<double>::infinity();
    if (i == 70) invalid = 2;
    if (i == 10) loss *= 3;                          // before warm-up: not judged
    const double loss32 = static_cast<float>(loss);  // the loss crosses as f32, as on CUDA
    CAPTURE(i);
    Tensor ss = Tensor::full(Shape{}, norm * norm, DType::F64);
    double n = 0, f = 0;
    const int got = verdict_of(ss, loss32, invalid, p, state, &n, &f);
    const int want = ref.judge(loss32, std::sqrt(norm * norm), invalid);
    CHECK(got == want);
    CHECK(f == (want != 0 ? 0.0 : (n > 1.5 ? 1.5 / n : 1.0)));
    ++counts[want];
  }
  // The run exercised every reason.
  for (int r = 0; r < 6; ++r) CHECK(counts[r] > 0);
  CHECK(state.to_vector<double>()[4] == ref.applied);
  CHECK(state.to_vector<double>()[0] == doctest::Approx(ref.lm).epsilon(1e-12));
  CHECK(state.to_vector<double>()[3] == doctest::Approx(ref.nv).epsilon(1e-12));
}

TEST_CASE("step guard: precedence of the reasons, and no z rule before warm-up or when it is off") {
  kernels::StepGuardParams p;
  p.warmup_steps = 0;
  Tensor state = Tensor::zeros(Shape{kernels::kGuardStateSize}, DType::F64);
  const Tensor inf = Tensor::full(Shape{}, std::numeric_limits<double>::infinity(), DType::F64);
  CHECK(verdict_of(inf, std::nan(""), 1, p, state) == static_cast<int>(SkipReason::InvalidTargets));
  CHECK(verdict_of(inf, std::nan(""), 0, p, state) == static_cast<int>(SkipReason::NonFiniteLoss));
  CHECK(verdict_of(inf, 1.0, 0, p, state) == static_cast<int>(SkipReason::NonFiniteGradient));
  CHECK(state.to_vector<double>() == std::vector<double>(5, 0.0));  // skipped steps leave the EMAs alone
  const Tensor one = Tensor::full(Shape{}, 1.0, DType::F64);
  for (int i = 0; i < 5; ++i) CHECK(verdict_of(one, 2.0 + 0.01 * i, 0, p, state) == 0);
  CHECK(verdict_of(one, 1e6, 0, p, state) == 0);  // z rules off (thresholds 0): a huge loss is applied
  CHECK(kernels::skip_reason_text(SkipReason::NonFiniteGradient) == std::string("non-finite gradient"));
}

TEST_CASE(
    "step guard: a grad_scale of 0 leaves parameters and moments bit for bit, any other value moves them") {
  Tensor p = Tensor::full(Shape{3}, 0.5, DType::F64), g = Tensor::full(Shape{3}, std::nan(""), DType::F64);
  Tensor m = Tensor::full(Shape{3}, 0.25, DType::F64), v = Tensor::full(Shape{3}, 0.125, DType::F64);
  kernels::AdamWStep s;
  s.lr = 0.1;
  std::vector<kernels::AdamWParam> params{{p, g, m, v, 0.1}};
  kernels::adamw_step(params, s, Tensor::zeros(Shape{}, DType::F64));
  CHECK(p.to_vector<double>() == std::vector<double>(3, 0.5));
  CHECK(m.to_vector<double>() == std::vector<double>(3, 0.25));
  CHECK(v.to_vector<double>() == std::vector<double>(3, 0.125));
  g.fill_(1.0);
  kernels::adamw_step(params, s, Tensor::full(Shape{}, 1e-30, DType::F64));
  CHECK(p.to_vector<double>() != std::vector<double>(3, 0.5));
}

TEST_CASE(
    "step guard: the loss counts out-of-vocabulary targets, with NaN loss and gradient rows, when asked") {
  const Tensor logits = Tensor::from_vector<float>({0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, Shape{2, 3});
  const Tensor targets = Tensor::from_vector<int32_t>({1, 7}, Shape{2});
  CHECK(error_of([&] {
          autograd::softmax_cross_entropy(autograd::Variable(logits), targets);
        }).find("target 7 at row 1") != std::string::npos);
  Tensor counter = Tensor::zeros(Shape{}, DType::F32);
  autograd::Variable x(logits, true);
  autograd::Variable loss = autograd::softmax_cross_entropy(x, targets, -1, &counter);
  CHECK(counter.item() == 1.0);
  CHECK(std::isnan(loss.data().item()));
  loss.backward();
  const std::vector<double> g = x.grad().to_vector<double>();
  for (int j = 0; j < 3; ++j) CHECK(std::isnan(g[3 + j]));
  // The good row's gradient is that of its own cross-entropy scaled by 1/2 (two counted rows).
  const double z = std::exp(0.1) + std::exp(0.2) + std::exp(0.3);
  CHECK(g[0] == doctest::Approx(0.5 * std::exp(0.1) / z).epsilon(1e-6));
  CHECK(g[1] == doctest::Approx(0.5 * (std::exp(0.2) / z - 1)).epsilon(1e-6));
}

TEST_CASE(
    "step guard: NaN gradient at step 3 and a bad target at step 5 are skipped bit for bit, training goes "
    "on") {
  TempDir dir("guard_session");
  trainers::TrainingSession session(tiny_recipe(dir), Device::cpu());
  trainers::StepFaults faults;
  faults.nan_gradient_steps = {3};
  faults.invalid_target_steps = {5};
  session.set_faults(faults);
  for (int64_t step = 0; step < 8; ++step) {
    CAPTURE(step);
    const auto before = snapshot(session);
    const trainers::TrainingSession::StepResult r = session.step(step);
    const auto after = snapshot(session);
    const SkipReason want = step + 1 == 3   ? SkipReason::NonFiniteGradient
                            : step + 1 == 5 ? SkipReason::InvalidTargets
                                            : SkipReason::None;
    CHECK(r.skip_reason() == want);
    CHECK(r.invalid_targets.item() == (step + 1 == 5 ? 1.0 : 0.0));
    if (want != SkipReason::None) {
      CHECK(after == before);  // every parameter and moment, bit for bit
    } else {
      CHECK(after != before);
      CHECK(std::isfinite(r.loss()));
    }
  }
  CHECK(session.optimizer().step_count() == 8);  // skipped steps still count (docs/reliability.md)
  CHECK(session.sample_indices(session.step(8)).size() == 4);
}

TEST_CASE("step guard: a diverged run (lr 1e30) has its non-finite steps skipped, not applied") {
  TempDir dir("guard_diverge");
  trainers::TrainingSession session(tiny_recipe(dir, {"optimizer.lr=1e30", "optimizer.grad_clip=0"}),
                                    Device::cpu());
  int64_t step = 0;
  SkipReason reason = SkipReason::None;
  for (; step < 10 && reason == SkipReason::None; ++step) reason = session.step(step).skip_reason();
  CHECK((reason == SkipReason::NonFiniteLoss || reason == SkipReason::NonFiniteGradient));
  CHECK(step <= 3);
  const auto before = snapshot(session);
  CHECK(session.step(step).skip_reason() != SkipReason::None);
  CHECK(snapshot(session) == before);
}

TEST_CASE(
    "step guard: the trainer logs skipped steps with their reason in metrics.jsonl and finishes the run") {
  TempDir dir("guard_trainer");
  const ScopedEnv nan("LAT_TEST_NAN_GRAD_STEPS", "3"), bad("LAT_TEST_BAD_TARGET_STEPS", "5");
  const trainers::TrainResult r = lat::testing::train(tiny_recipe(dir), dir / "run");
  CHECK(r.steps_done == 20);
  std::ifstream in(dir / "run/metrics.jsonl");
  std::string line, all;
  int rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    all += line + "\n";
    if (rows == 3)
      CHECK(line.find(R"("skipped": [{"step": 3, "reason": "non-finite gradient"}])") != std::string::npos);
    if (rows == 5)
      CHECK(line.find(R"("skipped": [{"step": 5, "reason": "out-of-vocabulary target"}])") !=
            std::string::npos);
    if (rows == 5) CHECK(line.find(R"("loss": null)") != std::string::npos);
  }
  CHECK(rows == 20);
  size_t skipped_rows = 0;
  for (size_t at = all.find("skipped"); at != std::string::npos; at = all.find("skipped", at + 1))
    ++skipped_rows;
  CHECK(skipped_rows == 2);
}

TEST_CASE(
    "step guard: too many skips in a row stop the run with one line, the last good checkpoint is kept") {
  TempDir dir("guard_stop");
  const std::string run = dir / "run";
  // Checkpoints every 2 steps, keep_last 1; steps 11, 12, 13 fail: the run stops at 13, naming it and its
  // samples.
  const Recipe recipe =
      tiny_recipe(dir, {"checkpoint.interval=2", "checkpoint.keep_last=1", "training.max_skipped_steps=3"});
  {
    const ScopedEnv nan("LAT_TEST_NAN_GRAD_STEPS", "11,12,13");
    const std::string e = error_of([&] { lat::testing::train(recipe, run); });
    CAPTURE(e);
    CHECK(e.find("training.max_skipped_steps: 3 steps in a row were skipped, the last at step 13 (non-finite "
                 "gradient") != std::string::npos);
    CHECK(e.find("its batch held samples ") != std::string::npos);
    CHECK(e.find("kept: " + checkpoint_path(run + "/checkpoints", 10)) != std::string::npos);
    CHECK(e.find('\n') == std::string::npos);
  }
  // Step 12's checkpoint was not written (the state was in doubt); step 10's is there and reads.
  CHECK(list_checkpoints(run + "/checkpoints") ==
        std::vector<std::string>{checkpoint_path(run + "/checkpoints", 10)});
  CHECK(read_checkpoint(checkpoint_path(run + "/checkpoints", 10)).step == 10);

  // A run that ends (or is stopped) during skipped steps writes its checkpoint, and pruning keeps the one
  // from before the trouble although keep_last = 1.
  const std::string run2 = dir / "run2";
  {
    const ScopedEnv nan("LAT_TEST_NAN_GRAD_STEPS", "13,14");
    const Recipe r14 =
        tiny_recipe(dir, {"training.steps=14", "checkpoint.interval=4", "checkpoint.keep_last=1"});
    CHECK(lat::testing::train(r14, run2).steps_done == 14);
  }
  CHECK(list_checkpoints(run2 + "/checkpoints") ==
        std::vector<std::string>{checkpoint_path(run2 + "/checkpoints", 14),
                                 checkpoint_path(run2 + "/checkpoints", 12)});
}

TEST_CASE("step guard: lat-train names the step and exits 1 with one line when too many steps were skipped") {
  TempDir dir("guard_tool");
  const std::string recipe = dir.write("tiny.toml", lat::testing::kTinyRecipe);
  const std::string corpus = dir.write("corpus.txt", lat::testing::tiny_corpus());
  const lat::testing::ShellResult r =
      lat::testing::run_shell("LAT_TEST_BAD_TARGET_STEPS=2,3 " + lat::testing::tool("lat-train") + " " +
                              recipe + " --no-sample --run-dir " + dir / "run" +
                              " --set data.path=" + corpus + " --set training.max_skipped_steps=2");
  CAPTURE(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("2 steps in a row were skipped, the last at step 3 (out-of-vocabulary target)") !=
        std::string::npos);
  // The out-of-vocabulary targets were reported with their step before the stop.
  CHECK(r.output.find("step 2: 1 out-of-vocabulary target in rank 0's batch") != std::string::npos);
}
