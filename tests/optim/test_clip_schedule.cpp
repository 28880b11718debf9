#include <doctest/doctest.h>

#include <cmath>

#include "autograd/nn/module.h"
#include "core/error.h"
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

TEST_CASE("global-norm clipping returns the pre-clip norm and scales to exactly max_norm") {
  Three m;
  m.a.grad() = lat::testing::random_float(Shape{300, 70}, "clip.a", -1, 1);
  m.b.grad() = lat::testing::random_float(Shape{7}, "clip.b", -3, 3);
  // m.c has no gradient: it is skipped.
  const double before = norm_of(m);
  CHECK(global_grad_norm(m.parameters()) == doctest::Approx(before).epsilon(1e-12));
  const auto b_before = m.b.grad().to_vector<float>();

  CHECK(clip_grad_norm(m.parameters(), before * 2) == doctest::Approx(before).epsilon(1e-12));
  CHECK(m.b.grad().to_vector<float>() == b_before);  // under the limit: untouched
  CHECK(clip_grad_norm(m.parameters(), 0.0) == doctest::Approx(before).epsilon(1e-12));  // 0: off

  const double returned = clip_grad_norm(m.parameters(), 1.5);
  CHECK(returned == doctest::Approx(before).epsilon(1e-12));
  CHECK(norm_of(m) == doctest::Approx(1.5).epsilon(1e-6));
  const auto b_after = m.b.grad().to_vector<float>();
  for (size_t i = 0; i < b_after.size(); ++i)
    CHECK(b_after[i] == doctest::Approx(b_before[i] * 1.5 / before).epsilon(1e-6));
  CHECK(!m.c.grad().defined());

  m.b.grad() = Tensor::full(Shape{7}, std::nan(""), DType::F32);
  const auto a_now = m.a.grad().to_vector<float>();
  CHECK(std::isnan(clip_grad_norm(m.parameters(), 1.0)));
  CHECK(m.a.grad().to_vector<float>() == a_now);  // non-finite: nothing scaled
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
