// Activation recomputation (autograd/recompute.h, training.recompute): the gradients through a recomputed
// function equal those without it bit for bit, the tiny model trains to bit-identical losses and parameters
// in every mode (random features included: the rerun must replay the same draw), and block recompute lowers
// the peak of live tensor bytes the CPU allocator counts.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "autograd/recompute.h"
#include "core/allocator.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "trainers/session.h"

using namespace lat;
using autograd::Variable;
using lat::testing::TempDir;

namespace {

Recipe tiny_recipe(const TempDir& dir, std::vector<std::string> overrides) {
  overrides.push_back("data.path=" + dir.write("corpus.txt", lat::testing::tiny_corpus()));
  return Recipe::from_string(lat::testing::kTinyRecipe, "tiny.toml", overrides);
}

struct Trace {
  std::vector<double> losses;
  std::map<std::string, std::vector<float>> params;
};

Trace train_steps(const Recipe& recipe, int64_t steps) {
  trainers::TrainingSession session(recipe, Device::cpu());
  Trace t;
  for (int64_t s = 0; s < steps; ++s) t.losses.push_back(session.step(s).loss());
  for (const auto& p : session.parameters()) t.params[p.name] = p.variable.data().to_vector<float>();
  return t;
}

}  // namespace

TEST_CASE("recompute: gradients through a recomputed function equal the plain ones bit for bit") {
  const Tensor xs = Tensor::from_vector<double>({0.3, -1.2, 0.7, 2.0, -0.4, 0.9}, Shape{2, 3});
  const Tensor ws =
      Tensor::from_vector<double>({0.5, -0.25, 1.5, 0.75, -1.0, 0.1, 0.2, 0.3, -0.6}, Shape{3, 3});
  auto run = [&](bool recomputed, std::vector<double>& dx, std::vector<double>& dw) {
    Variable x(xs.clone(), true), w(ws.clone(), true);
    // x is used twice inside the function (a residual, as in a block), and y twice after it.
    auto fn = [w](const Variable& v) { return autograd::add(v, autograd::silu(autograd::linear(v, w))); };
    Variable y = recomputed ? autograd::recompute("test", fn, x) : fn(x);
    Variable loss = autograd::sum(autograd::mul(y, y));
    loss.backward();
    dx = x.grad().to_vector<double>();
    dw = w.grad().to_vector<double>();
  };
  std::vector<double> dx0, dw0, dx1, dw1;
  run(false, dx0, dw0);
  run(true, dx1, dw1);
  CHECK(dx0 == dx1);
  CHECK(dw0 == dw1);
  // The weight's grad-ready hook fires once, inside the recompute node's backward.
  Variable x(xs.clone(), true), w(ws.clone(), true);
  int fired = 0;
  w.set_grad_ready_hook([&] { ++fired; });
  autograd::sum(autograd::recompute(
                    "test", [w](const Variable& v) { return autograd::linear(v, w); }, x))
      .backward();
  CHECK(fired == 1);
}

TEST_CASE("recompute: 10 CPU steps with recompute block / attention / mlp equal none bit for bit") {
  TempDir dir("recompute_exact");
  std::vector<std::string> variant;
  SUBCASE("lightning: identity, rmsnorm, gate, key shift, grad_accum 2") {
    variant = {"attention.feature_map=identity", "attention.normalize=rmsnorm", "attention.gate=true",
               "attention.key_shift=true", "training.grad_accum=2"};
  }
  SUBCASE("random features (the rerun replays the draw)") { variant = {"attention.feature_map=random"}; }
  SUBCASE("softmax with rope") { variant = {"attention.kind=softmax", "attention.rope=true"}; }
  std::vector<std::string> none = variant;
  none.push_back("training.recompute=none");
  const Trace reference = train_steps(tiny_recipe(dir, none), 10);
  for (const char* mode : {"block", "attention", "mlp"}) {
    CAPTURE(mode);
    std::vector<std::string> o = variant;
    o.push_back(std::string("training.recompute=") + mode);
    const Trace t = train_steps(tiny_recipe(dir, o), 10);
    CHECK(t.losses == reference.losses);
    CHECK(t.params == reference.params);
  }
}

TEST_CASE("recompute: block recompute lowers the peak of live tensor bytes during a training step") {
  TempDir dir("recompute_memory");
  auto peak_of = [&](const char* mode) {
    trainers::TrainingSession session(
        tiny_recipe(dir, {std::string("training.recompute=") + mode, "model.layers=4", "training.seq_len=64",
                          "training.batch_size=8", "data.val_fraction=0"}),
        Device::cpu());
    session.step(0);  // optimizer state and caches exist from here on
    Allocator& a = allocator_for(Device::cpu());
    const size_t base = a.bytes_in_use();
    a.reset_peak();
    session.step(1);
    return a.peak_bytes() - base;
  };
  const size_t none = peak_of("none"), block = peak_of("block");
  CAPTURE(none);
  CAPTURE(block);
  CHECK(block < none);
  CHECK(static_cast<double>(block) < 0.8 * static_cast<double>(none));
}
