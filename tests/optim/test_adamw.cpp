#include <doctest/doctest.h>

#include <cmath>

#include "autograd/nn/module.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "optim/adamw.h"
#include "tests/support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using namespace lat::autograd::nn;
using namespace lat::optim;

namespace {

struct TwoParams : Module {
  explicit TwoParams(DType dtype) {
    w = register_parameter("w", lat::testing::random_double(Shape{3, 5}, "adamw.w").to(dtype));
    register_module("norm", norm);
    norm.gain = norm.add("gain", lat::testing::random_double(Shape{5}, "adamw.gain").to(dtype));
  }
  struct Norm : Module {
    Variable add(const std::string& n, Tensor t) { return register_parameter(n, std::move(t), false); }
    Variable gain;
  } norm;
  Variable w;
};

// Straight-from-the-paper AdamW in double, one parameter.
struct Reference {
  explicit Reference(std::vector<double> start) : p(std::move(start)) {}
  std::vector<double> p, m, v;
  int64_t t = 0;
  void step(const std::vector<double>& g, double lr, double b1, double b2, double eps, double wd) {
    if (m.empty()) m.assign(p.size(), 0.0), v.assign(p.size(), 0.0);
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] -= lr * wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const double mhat = m[i] / (1 - std::pow(b1, static_cast<double>(t)));
      const double vhat = v[i] / (1 - std::pow(b2, static_cast<double>(t)));
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
};

// "prefix" followed by n (appending avoids a GCC 12 -Wrestrict false positive on "literal" + std::string).
std::string tagged(const char* prefix, int n) {
  std::string s(prefix);
  s.append(std::to_string(n));
  return s;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

}  // namespace

TEST_CASE("adamw matches a double reference over several steps, decaying only weight_decay parameters") {
  for (DType dtype : {DType::F64, DType::F32}) {
    for (double wd : {0.0, 0.1}) {
      TwoParams model(dtype);
      AdamWConfig c;
      c.beta1 = 0.9;
      c.beta2 = 0.95;
      c.eps = 1e-8;
      c.weight_decay = wd;
      AdamW opt(model.parameters(), c);
      Reference rw{model.w.data().to_vector<double>()}, rg{model.norm.gain.data().to_vector<double>()};
      const double lrs[] = {1e-2, 3e-2, 5e-3, 2e-2, 1e-2, 7e-3};
      for (int s = 0; s < 6; ++s) {
        const std::string tag = tagged("grad", s);
        Tensor gw = lat::testing::random_double(Shape{3, 5}, tagged(tag.c_str(), 0), -2, 2);
        Tensor gg = lat::testing::random_double(Shape{5}, tagged(tag.c_str(), 1), -2, 2);
        model.w.grad() = gw.to(dtype);
        model.norm.gain.grad() = gg.to(dtype);
        // The reference sees exactly the gradient the optimizer sees (after rounding to dtype).
        rw.step(gw.to(dtype).to_vector<double>(), lrs[s], c.beta1, c.beta2, c.eps, wd);
        rg.step(gg.to(dtype).to_vector<double>(), lrs[s], c.beta1, c.beta2, c.eps, 0.0);
        opt.step(lrs[s]);
      }
      CHECK(opt.step_count() == 6);
      const double tol = dtype == DType::F64 ? 1e-14 : 2e-6;
      INFO("dtype " << dtype_name(dtype) << " wd " << wd);
      CHECK(max_abs_diff(model.w.data().to_vector<double>(), rw.p) < tol);
      CHECK(max_abs_diff(model.norm.gain.data().to_vector<double>(), rg.p) < tol);
      const AdamWState st = opt.state();
      CHECK(max_abs_diff(st.exp_avg.at("w").to_vector<double>(), rw.m) < tol);
      CHECK(max_abs_diff(st.exp_avg_sq.at("norm.gain").to_vector<double>(), rg.v) < tol);
      CHECK(st.exp_avg.at("w").dtype() == dtype);
    }
  }
}

TEST_CASE("adamw: zero gradient moves only decayed parameters, no gradient moves nothing") {
  TwoParams model(DType::F32);
  AdamWConfig c;
  c.weight_decay = 0.5;
  AdamW opt(model.parameters(), c);
  const auto w0 = model.w.data().to_vector<float>(), g0 = model.norm.gain.data().to_vector<float>();
  model.w.grad() = Tensor::zeros(Shape{3, 5}, DType::F32);
  model.norm.gain.grad() = Tensor::zeros(Shape{5}, DType::F32);
  opt.step(0.1);
  CHECK(model.norm.gain.data().to_vector<float>() == g0);  // excluded from decay: bit-identical
  const auto w1 = model.w.data().to_vector<float>();
  for (size_t i = 0; i < w0.size(); ++i) CHECK(w1[i] == doctest::Approx(w0[i] * (1.0 - 0.1 * 0.5)).epsilon(1e-6));

  opt.zero_grad();
  CHECK(!model.w.grad().defined());
  opt.step(0.1);  // no gradients at all: nothing moves, not even decay
  CHECK(model.w.data().to_vector<float>() == w1);
  CHECK(model.norm.gain.data().to_vector<float>() == g0);
}

TEST_CASE("adamw: gradients accumulated over micro-batches equal one full backward") {
  auto run = [](int micro) {
    TwoParams model(DType::F32);
    AdamW opt(model.parameters(), AdamWConfig{});
    const Variable target(lat::testing::random_float(Shape{3, 5}, "target"));
    for (int s = 0; s < 3; ++s) {
      for (int k = 0; k < micro; ++k) {
        Variable loss = scale(sum(mul(model.w, target)), 1.0 / micro);
        loss = add(loss, scale(sum(mul(model.norm.gain, model.norm.gain)), 1.0 / micro));
        loss.backward();
      }
      opt.step(1e-2);
      opt.zero_grad();
    }
    return model.w.data().to_vector<float>();
  };
  const auto one = run(1), two = run(2);
  for (size_t i = 0; i < one.size(); ++i) CHECK(one[i] == doctest::Approx(two[i]).epsilon(1e-6));
}

TEST_CASE("adamw: state save/load resumes bit-exactly and rejects mismatched state") {
  auto grads = [](TwoParams& m, int s) {
    m.w.grad() = lat::testing::random_float(Shape{3, 5}, tagged("g", s));
    m.norm.gain.grad() = lat::testing::random_float(Shape{5}, tagged("h", s));
  };
  TwoParams straight(DType::F32), first(DType::F32), second(DType::F32);
  AdamW a(straight.parameters(), AdamWConfig{}), b(first.parameters(), AdamWConfig{});
  for (int s = 0; s < 5; ++s) {
    grads(straight, s);
    a.step(1e-2);
  }
  for (int s = 0; s < 2; ++s) {
    grads(first, s);
    b.step(1e-2);
  }
  // "Checkpoint": copy parameters and optimizer state to fresh objects (host clones, as HDF5 would).
  AdamWState saved = b.state();
  for (auto& [name, t] : saved.exp_avg) t = t.clone();
  for (auto& [name, t] : saved.exp_avg_sq) t = t.to(DType::F64);  // any dtype is converted on load
  second.w.data().copy_(first.w.data());
  second.norm.gain.data().copy_(first.norm.gain.data());
  AdamW c(second.parameters(), AdamWConfig{});
  c.load_state(saved);
  CHECK(c.step_count() == 2);
  for (int s = 2; s < 5; ++s) {
    grads(second, s);
    c.step(1e-2);
  }
  CHECK(second.w.data().to_vector<float>() == straight.w.data().to_vector<float>());
  CHECK(second.norm.gain.data().to_vector<float>() == straight.norm.gain.data().to_vector<float>());

  AdamWState bad = b.state();
  bad.exp_avg.erase("w");
  CHECK_THROWS_WITH_AS(c.load_state(bad), doctest::Contains("'w'"), Error);
  bad = b.state();
  bad.exp_avg_sq["extra"] = Tensor::zeros(Shape{1}, DType::F32);
  CHECK_THROWS_WITH_AS(c.load_state(bad), doctest::Contains("'extra'"), Error);
  bad = b.state();
  bad.exp_avg["norm.gain"] = Tensor::zeros(Shape{4}, DType::F32);
  CHECK_THROWS_WITH_AS(c.load_state(bad), doctest::Contains("norm.gain"), Error);
  CHECK(c.step_count() == 5);  // failed loads change nothing

  AdamWConfig wrong;
  wrong.beta2 = 1.0;
  CHECK_THROWS_WITH_AS(AdamW(second.parameters(), wrong), doctest::Contains("beta2"), Error);
}

TEST_CASE("adamw minimises a small quadratic") {
  struct Point : Module {
    Point() { x = register_parameter("x", Tensor::from_vector<float>({5.f, -3.f, 0.5f, 10.f}, Shape{4})); }
    Variable x;
  } model;
  const Variable neg_c(Tensor::from_vector<float>({-1.f, 2.f, -0.25f, 3.f}, Shape{4}));
  const Variable a(Tensor::from_vector<float>({1.f, 4.f, 0.5f, 2.f}, Shape{4}));
  AdamWConfig cfg;
  cfg.weight_decay = 0.0;
  AdamW opt(model.parameters(), cfg);
  double first_loss = 0, loss_value = 0;
  for (int s = 0; s < 600; ++s) {
    const Variable d = add(model.x, neg_c);
    Variable loss = sum(mul(mul(d, d), a));
    loss_value = loss.data().item();
    if (s == 0) first_loss = loss_value;
    loss.backward();
    opt.step(s < 400 ? 0.1 : 0.01);
    opt.zero_grad();
  }
  CHECK(loss_value < 1e-4 * first_loss);
  const auto x = model.x.data().to_vector<float>();
  const float expected[] = {1.f, -2.f, 0.25f, -3.f};
  for (int i = 0; i < 4; ++i) CHECK(x[static_cast<size_t>(i)] == doctest::Approx(expected[i]).epsilon(1e-2));
}
