#include "autograd/recompute.h"

#include "core/error.h"

namespace lat::autograd {

Variable recompute(const char* name, RecomputeFn fn, const Variable& x) {
  if (!grad_enabled() || !x.requires_grad()) return fn(x);
  Tensor out = fn(Variable(x.data(), true)).data();  // the graph recorded here is dropped at once
  const Tensor saved = x.data();
  return record(name, {x}, std::move(out), [name, fn = std::move(fn), saved](const std::vector<Tensor>& g) {
    // Backward runs in grad mode (the engine never turns it off); the rerun records its own graph.
    LAT_CHECK(grad_enabled(), name, ": backward ran with grad mode off, which the recomputed forward needs");
    Variable input(saved, true);
    const Variable y = fn(input);
    y.backward(g[0]);
    return std::vector<Tensor>{input.grad()};
  });
}

}  // namespace lat::autograd
