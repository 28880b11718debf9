#include "support/gradcheck.h"

#include <cmath>

#include "core/random.h"
#include "kernels/elementwise.h"

namespace lat::testing {
namespace {

// sum(out ⊙ weight) in double on the host.
double contract(const Tensor& out, const Tensor& weight) {
  std::vector<double> o = out.to_vector<double>(), w = weight.to_vector<double>();
  double s = 0;
  for (size_t i = 0; i < o.size(); ++i) s += o[i] * w[i];
  return s;
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

}  // namespace

uint64_t seed_from(const std::string& tag) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : tag) h = (h ^ c) * 1099511628211ull;
  return h;
}

Tensor random_double(const Shape& shape, const std::string& tag, double lo, double hi) {
  Tensor t = Tensor::empty(shape, DType::F64);
  fill_uniform(t, seed_from(tag), 0, lo, hi);
  return t;
}

Tensor random_float(const Shape& shape, const std::string& tag, double lo, double hi) {
  Tensor t = Tensor::empty(shape, DType::F32);
  fill_uniform(t, seed_from(tag), 0, lo, hi);
  return t;
}

std::vector<double> check_gradients(const std::string& name, const std::vector<Tensor>& inputs, const OpFn& fn,
                                    const GradCheckOptions& options) {
  auto should_check = [&](size_t i) {
    return is_floating(inputs[i].dtype()) && (options.check.empty() || options.check[i]);
  };
  Vars vars;
  for (size_t i = 0; i < inputs.size(); ++i) vars.emplace_back(inputs[i].clone(), should_check(i));
  autograd::Variable out = fn(vars);
  Tensor weight = random_double(out.shape(), name + "/weight");
  out.backward(weight.to(out.dtype()));

  std::vector<double> errors;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!should_check(i)) {
      errors.push_back(0);
      continue;
    }
    CAPTURE(name);
    CAPTURE(i);
    REQUIRE_MESSAGE(vars[i].grad().defined(), "input ", i, " of ", name, " received no gradient");
    std::vector<double> analytic = vars[i].grad().to_vector<double>();
    std::vector<double> numeric(analytic.size());
    Tensor probe = inputs[i].clone();
    double* p = probe.data<double>();
    for (size_t e = 0; e < numeric.size(); ++e) {
      const double saved = p[e];
      auto evaluate = [&](double value) {
        p[e] = value;
        Vars in;
        for (size_t k = 0; k < inputs.size(); ++k) in.emplace_back(k == i ? probe : inputs[k], false);
        autograd::NoGradGuard no_grad;
        return contract(fn(in).data(), weight);
      };
      numeric[e] = (evaluate(saved + options.step) - evaluate(saved - options.step)) / (2 * options.step);
      p[e] = saved;
    }
    std::vector<double> diff(numeric.size());
    for (size_t e = 0; e < numeric.size(); ++e) diff[e] = analytic[e] - numeric[e];
    const double scale = norm(numeric);
    const double error = scale > 0 ? norm(diff) / scale : norm(diff);
    CHECK_MESSAGE(error < options.tolerance, name, ": input ", i, " relative gradient error ", error);
    errors.push_back(error);
  }
  return errors;
}

double max_relative_difference(const Tensor& a, const Tensor& b, double floor) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double diff = 0, scale = floor;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return diff / scale;
}

double relative_rms_error(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace lat::testing
