#include <doctest/doctest.h>

#include <cmath>

#include "autograd/nn/module.h"
#include "core/error.h"
#include "kernels/elementwise.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "optim/schedule.h"
#include "tests/support/gradcheck.h"

using namespace lat;
using namespace lat::autograd;
using namespace lat::autograd::nn;
using namespace lat::optim;

namespace {
struct Three : Module {
  Three() {
    a = register_parameter("a", Tensor::zeros(Shape{300, 70}, DType::F32));  // > one 8192-element chunk
    b = register_parameter("b", Tensor::zeros(Shape{7}, DType::F32), false);
    c = register_parameter("c", Tensor::zeros(Shape{2}, DType::F32));
  }
  Variable a, b, c;
};
double norm_of(const Three& m) {
  double s = 0;
  for (const Variable* v : {&m.a, &m.b})
    for (float x : v->grad().to_vector<float>()) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}
}  // namespace

TEST_CASE("global-norm clipping: the pre-clip norm and the factor that scales it to exactly max_norm") {
  Three m;
  m.a.grad() = lat::testing::random_float(Shape{300, 70}, "clip.a", -1, 1);
  m.b.grad() = lat::testing::random_float(Shape{7}, "clip.b", -3, 3);
  // m.c has no gradient: it is skipped.
  const double before = norm_of(m);
  const auto b_before = m.b.grad().to_vector<float>();
  GradientNorm off = global_grad_norm(m.parameters());
  CHECK(off.norm_value() == doctest::Approx(before).epsilon(1e-12));
  CHECK(off.factor_value() == 1.0);  // max_norm 0: off
  CHECK(global_grad_norm(m.parameters(), before * 2).factor_value() == 1.0);  // under the limit
  GradientNorm clip = global_grad_norm(m.parameters(), 1.5);
  CHECK(clip.norm_value() == doctest::Approx(before).epsilon(1e-12));
  CHECK(clip.factor_value() * before == doctest::Approx(1.5).epsilon(1e-12));
  CHECK(m.b.grad().to_vector<float>() == b_before);  // gradients untouched: AdamW::step applies the factor
  CHECK(!m.c.grad().defined());

  m.b.grad() = Tensor::full(Shape{7}, std::nan(""), DType::F32);
  GradientNorm bad = global_grad_norm(m.parameters(), 1.0);
  CHECK(std::isnan(bad.norm_value()));
  CHECK(bad.factor_value() == 1.0);  // non-finite: reported, nothing scaled
}

TEST_CASE("AdamW with a gradient scale equals AdamW on gradients scaled beforehand") {
  Three m1, m2;
  for (Three* m : {&m1, &m2}) {
    m->a.data() = lat::testing::random_float(Shape{300, 70}, "adamw.a", -1, 1);
    m->b.data() = lat::testing::random_float(Shape{7}, "adamw.b", -1, 1);
  }
  AdamWConfig config;
  config.lr = 1e-2;
  config.weight_decay = 0.1;
  AdamW o1(m1.parameters(), config), o2(m2.parameters(), config);
  for (int step = 0; step < 3; ++step) {
    const Tensor ga = lat::testing::random_float(Shape{300, 70}, "adamw.ga" + std::to_string(step), -1, 1);
    const Tensor gb = lat::testing::random_float(Shape{7}, "adamw.gb" + std::to_string(step), -1, 1);
    m1.a.grad() = ga.clone(), m1.b.grad() = gb.clone();
    const GradientNorm clip = global_grad_norm(m1.parameters(), 2.0);
    REQUIRE(clip.factor_value() < 1.0);
    o1.step(1e-2, clip.factor);
    m2.a.grad() = ga.clone(), m2.b.grad() = gb.clone();
    kernels::scale_(m2.a.grad(), clip.factor_value());
    kernels::scale_(m2.b.grad(), clip.factor_value());
    o2.step(1e-2);
  }
  CHECK(m1.a.data().to_vector<float>() == m2.a.data().to_vector<float>());
  CHECK(m1.b.data().to_vector<float>() == m2.b.data().to_vector<float>());
}

TEST_CASE("lr schedules at key steps") {
  ScheduleConfig c;
  c.lr = 1.0;
  c.min_lr = 0.1;
  c.warmup_steps = 10;
  c.total_steps = 110;

  c.kind = ScheduleKind::Constant;
  CHECK(lr_at(c, 0) == doctest::Approx(0.1));
  CHECK(lr_at(c, 4) == doctest::Approx(0.5));
  CHECK(lr_at(c, 9) == doctest::Approx(1.0));
  CHECK(lr_at(c, 10) == 1.0);
  CHECK(lr_at(c, 1000) == 1.0);

  c.kind = ScheduleKind::Linear;
  CHECK(lr_at(c, 0) == doctest::Approx(0.1));
  CHECK(lr_at(c, 10) == 1.0);
  CHECK(lr_at(c, 60) == doctest::Approx(0.55));
  CHECK(lr_at(c, 110) == doctest::Approx(0.1));
  CHECK(lr_at(c, 500) == doctest::Approx(0.1));

  c.kind = ScheduleKind::Cosine;
  CHECK(lr_at(c, 9) == doctest::Approx(1.0));
  CHECK(lr_at(c, 10) == 1.0);
  CHECK(lr_at(c, 35) == doctest::Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI / 4))));
  CHECK(lr_at(c, 60) == doctest::Approx(0.55));
  CHECK(lr_at(c, 110) == doctest::Approx(0.1));
  CHECK(lr_at(c, 111) == doctest::Approx(0.1));
  for (int64_t s = 11; s < 110; ++s) CHECK(lr_at(c, s) < lr_at(c, s - 1));  // monotone after warmup

  c.warmup_steps = 0;
  CHECK(lr_at(c, 0) == 1.0);
  c.warmup_steps = 110;  // all warmup: no decay span
  CHECK(lr_at(c, 109) == doctest::Approx(1.0));
  CHECK(lr_at(c, 110) == doctest::Approx(0.1));

  CHECK(parse_schedule_kind("cosine") == ScheduleKind::Cosine);
  CHECK(std::string(schedule_kind_name(ScheduleKind::Linear)) == "linear");
  CHECK_THROWS_WITH_AS(parse_schedule_kind("exp"), doctest::Contains("'exp'"), Error);
  ScheduleConfig bad = c;
  bad.min_lr = 2.0;
  CHECK_THROWS_WITH_AS(validate(bad), doctest::Contains("min_lr"), Error);
  bad = c;
  bad.warmup_steps = 200;
  CHECK_THROWS_WITH_AS(validate(bad), doctest::Contains("warmup_steps 200"), Error);
  CHECK_NOTHROW(validate(c));
}
