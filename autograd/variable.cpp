#include "autograd/variable.h"

#include "autograd/profile.h"
#include "core/error.h"

namespace lat::autograd {
namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Variable::Variable(Tensor data, bool requires_grad) : state_(std::make_shared<VariableState>()) {
  LAT_CHECK(data.defined(), "a Variable needs a defined tensor");
  LAT_CHECK(!requires_grad || is_floating(data.dtype()), "only floating tensors can require grad, got ",
            data.str());
  state_->data = std::move(data);
  state_->requires_grad = requires_grad;
}

void Variable::zero_grad() { state_->grad = Tensor(); }

Variable make_output(const std::shared_ptr<Node>& node, Tensor data, int index) {
  Variable v(std::move(data), node != nullptr);
  v.state_->creator = node;
  v.state_->output_index = index;
  return v;
}

std::vector<Variable> record(const char* name, const std::vector<Variable>& inputs, std::vector<Tensor> outputs,
                             BackwardFn backward) {
  profile::mark("forward", name);
  bool any = false;
  if (grad_enabled())
    for (const Variable& v : inputs) any = any || v.requires_grad();
  std::shared_ptr<Node> node;
  if (any) {
    node = std::make_shared<Node>();
    node->name = name;
    node->backward = std::move(backward);
    for (const Variable& v : inputs) node->inputs.push_back(v.requires_grad() ? v : Variable());
    for (const Tensor& t : outputs) {
      node->output_shapes.push_back(t.shape());
      node->output_dtypes.push_back(t.dtype());
    }
    node->device = outputs.empty() ? Device::cpu() : outputs.front().device();
  }
  std::vector<Variable> result;
  for (size_t i = 0; i < outputs.size(); ++i) result.push_back(make_output(node, std::move(outputs[i]), static_cast<int>(i)));
  return result;
}

Variable record(const char* name, const std::vector<Variable>& inputs, Tensor output, BackwardFn backward) {
  std::vector<Tensor> outputs;
  outputs.push_back(std::move(output));
  return record(name, inputs, std::move(outputs), std::move(backward)).front();
}

}  // namespace lat::autograd
