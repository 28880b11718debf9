// The define-by-run tape. A Variable is a tensor plus, when it takes part in differentiation, its gradient
// and the Node that created it. A Node holds what its backward needs (captured in a closure) and the edges
// to its inputs; the engine (engine.cpp) runs the closures in reverse topological order and frees each
// closure, with its saved tensors, as soon as it has run.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace lat::autograd {

class Node;

struct VariableState {
  Tensor data;
  Tensor grad;  // accumulated by backward for leaves that require grad; undefined until then
  std::shared_ptr<Node> creator;
  int output_index = 0;  // which output of `creator` this is
  bool requires_grad = false;
  // Called by the engine once a backward pass has delivered the last gradient contribution to this leaf
  // (data-parallel training starts reducing a gradient bucket from here, while backward goes on).
  std::function<void()> on_grad_ready;
};

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, bool requires_grad = false);

  bool defined() const { return state_ != nullptr; }
  const Tensor& data() const { return state_->data; }
  Tensor& data() { return state_->data; }
  const Tensor& grad() const { return state_->grad; }
  Tensor& grad() { return state_->grad; }
  bool requires_grad() const { return state_ && state_->requires_grad; }
  bool is_leaf() const { return state_->creator == nullptr; }
  const std::shared_ptr<Node>& creator() const { return state_->creator; }
  int output_index() const { return state_->output_index; }

  const Shape& shape() const { return state_->data.shape(); }
  int64_t size(int d) const { return state_->data.size(d); }
  int ndim() const { return state_->data.ndim(); }
  DType dtype() const { return state_->data.dtype(); }
  Device device() const { return state_->data.device(); }

  // Back-propagates from this variable. With no seed it must have one element and the seed is 1.
  // Gradients accumulate into the leaves' grad(); the graph is freed as it is consumed.
  void backward(const Tensor& seed = Tensor()) const;
  void zero_grad();
  void set_grad_ready_hook(std::function<void()> hook) { state_->on_grad_ready = std::move(hook); }
  // The same data with no history (a new leaf that does not require grad).
  Variable detach() const { return Variable(state_->data, false); }

  // Identity of the underlying state (for graph bookkeeping).
  const VariableState* id() const { return state_.get(); }

 private:
  friend class Node;
  friend Variable make_output(const std::shared_ptr<Node>&, Tensor, int);
  std::shared_ptr<VariableState> state_;
};

// Gradients of the outputs in, gradients of the inputs out (undefined where an input needs none).
using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;

class Node {
 public:
  std::string name;              // the op, for error messages ("rmsnorm")
  std::vector<Variable> inputs;  // edges; an input that does not require grad is kept undefined
  BackwardFn backward;           // released by the engine after it runs
  std::vector<Shape> output_shapes;
  std::vector<DType> output_dtypes;
  Device device;
};

// Records an op on the tape. When grad mode is on and any input requires grad, the outputs get a creator
// node running `backward`; otherwise they are plain variables and `backward` is dropped.
std::vector<Variable> record(const char* name, const std::vector<Variable>& inputs, std::vector<Tensor> outputs,
                             BackwardFn backward);
Variable record(const char* name, const std::vector<Variable>& inputs, Tensor output, BackwardFn backward);

// Grad mode: on by default; NoGradGuard turns it off for its scope (evaluation, optimizer updates).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace lat::autograd
