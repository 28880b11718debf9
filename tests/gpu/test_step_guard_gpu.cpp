// The step guard on the GPU against the CPU path (optim/step_guard.h): the same verdicts over a run with
// spikes, NaNs and bad targets; AdamW writing nothing for a factor of 0; the cross-entropy counting
// out-of-vocabulary targets on the device with NaN loss and gradient rows; a session step with an injected
// NaN gradient leaving the parameters bit for bit.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "autograd/ops.h"
#include "gpu_test_util.h"
#include "kernels/optim.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "trainers/session.h"

using namespace lat;

TEST_CASE("step guard on CUDA: the verdicts, norms and factors of the CPU rule") {
  kernels::StepGuardParams p;
  p.loss_z = 4.0, p.norm_z = 5.0, p.max_norm = 1.5, p.warmup_steps = 10;
  Tensor cpu_state = Tensor::zeros(Shape{kernels::kGuardStateSize}, DType::F64);
  Tensor gpu_state = Tensor::zeros(Shape{kernels::kGuardStateSize}, DType::F64, Device::cuda());
  for (int i = 0; i < 100; ++i) {
    CAPTURE(i);
    float loss = static_cast<float>(4.0 + 0.05 * std::sin(1.3 * i)),
          norm = static_cast<float>(1.0 + 0.2 * std::cos(i));
    float invalid = 0;
    if (i % 23 == 20) loss *= 3;
    if (i % 29 == 25) norm *= 30;
    if (i == 40) loss = std::numeric_limits<float>::quiet_NaN();
    if (i == 45) norm = std::numeric_limits<float>::infinity();
    if (i == 50) invalid = 3;
    const float ss = norm * norm;
    Tensor cn = Tensor::empty(Shape{}, DType::F64), cf = Tensor::empty_like(cn), cv = Tensor::empty_like(cn);
    kernels::guard_step(Tensor::full(Shape{}, ss, DType::F64), Tensor::full(Shape{}, loss, DType::F32),
                        Tensor::full(Shape{}, invalid, DType::F32), p, cpu_state, cn, cf, cv);
    Tensor gn = Tensor::empty(Shape{}, DType::F32, Device::cuda()), gf = Tensor::empty_like(gn),
           gv = Tensor::empty_like(gn);
    kernels::guard_step(Tensor::full(Shape{}, ss, DType::F32, Device::cuda()),
                        Tensor::full(Shape{}, loss, DType::F32, Device::cuda()),
                        Tensor::full(Shape{}, invalid, DType::F32, Device::cuda()), p, gpu_state, gn, gf, gv);
    CHECK(gv.item() == cv.item());
    CHECK((gf.item() == 0.0) == (cf.item() == 0.0));
    if (cf.item() != 0.0) CHECK(gf.item() == doctest::Approx(cf.item()).epsilon(1e-6));
  }
  CHECK(gpu_state.to(Device::cpu()).to_vector<double>()[4] == cpu_state.to_vector<double>()[4]);
}

TEST_CASE("step guard on CUDA: out-of-vocabulary targets are counted, NaN loss and gradient rows") {
  const Tensor logits =
      Tensor::from_vector<float>({0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, Shape{2, 3}).to(Device::cuda());
  const Tensor targets = Tensor::from_vector<int32_t>({1, 7}, Shape{2}).to(Device::cuda());
  Tensor counter = Tensor::zeros(Shape{}, DType::F32, Device::cuda());
  autograd::Variable x(logits, true);
  autograd::Variable loss = autograd::softmax_cross_entropy(x, targets, -1, &counter);
  CHECK(counter.item() == 1.0);
  CHECK(std::isnan(loss.data().item()));
  loss.backward();
  const std::vector<double> g = gpu_test::host(x.grad());
  for (int j = 0; j < 3; ++j) CHECK(std::isnan(g[3 + j]));
  CHECK(std::isfinite(g[0]));
}

TEST_CASE("step guard on CUDA: a NaN gradient step leaves every parameter and moment bit for bit") {
  lat::testing::TempDir dir("guard_gpu");
  const Recipe recipe = Recipe::from_string(
      lat::testing::kTinyRecipe, "tiny.toml",
      {"data.path=" + dir.write("corpus.txt", lat::testing::tiny_corpus()), "training.device=cuda"});
  trainers::TrainingSession session(recipe, Device::cuda());
  trainers::StepFaults faults;
  faults.nan_gradient_steps = {2};
  session.set_faults(faults);
  session.step(0);
  auto snapshot = [&] {
    std::vector<std::vector<float>> out;
    const optim::AdamWState st = session.optimizer().state();
    for (const auto& p : session.parameters()) {
      out.push_back(p.variable.data().to(Device::cpu()).to_vector<float>());
      out.push_back(st.exp_avg.at(p.name).to(Device::cpu()).to_vector<float>());
    }
    return out;
  };
  const auto before = snapshot();
  CHECK(session.step(1).skip_reason() == optim::SkipReason::NonFiniteGradient);
  CHECK(snapshot() == before);
  CHECK(session.step(2).skip_reason() == optim::SkipReason::None);
  CHECK(snapshot() != before);
}
