// The backward engine: Kahn's algorithm over the nodes reachable from the root, so a node runs only once
// every consumer of its outputs has contributed its gradient. Each node's closure (and the tensors it saved)
// is released right after it runs.
#include <unordered_map>

#include "autograd/engine_hooks.h"
#include "autograd/profile.h"
#include "autograd/variable.h"
#include "core/error.h"
#include "kernels/elementwise.h"

namespace lat::autograd {
namespace {

thread_local std::function<void()> t_progress_hook;

// Sum into `slot`, never writing into a tensor someone else may hold (a backward may pass its incoming
// gradient straight through to several inputs).
void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
    return;
  }
  Tensor sum = Tensor::empty_like(slot);
  kernels::add(slot.contiguous(), g.contiguous(), sum);
  slot = sum;
}

// A leaf adopts its first gradient without a copy and sums later ones out of place (accumulate), so the engine
// never writes into a tensor that a backward closure may also have handed to another input.
void accumulate_leaf(VariableState& leaf, const Tensor& g) { accumulate(leaf.grad, g.contiguous()); }

}  // namespace

std::function<void()> set_backward_progress_hook(std::function<void()> hook) {
  std::function<void()> previous = std::move(t_progress_hook);
  t_progress_hook = std::move(hook);
  return previous;
}

void Variable::backward(const Tensor& seed_in) const {
  LAT_CHECK(defined(), "backward on an undefined variable");
  LAT_CHECK(requires_grad(), "backward: this variable does not require grad (no differentiable input)");
  Tensor seed = seed_in;
  if (!seed.defined()) {
    LAT_CHECK(data().numel() == 1, "backward without a seed needs a one-element output, got ", data().str());
    seed = Tensor::full(data().shape(), 1.0, data().dtype(), data().device());
  }
  check_shape("backward", "seed", seed, data().shape());
  if (is_leaf()) {
    accumulate_leaf(*state_, seed.clone());  // the caller keeps its seed
    return;
  }

  // Dependency counts: how many (node -> input node) edges point at each node.
  // Nodes are held by shared_ptr here: clearing a node's inputs after it runs may drop the last other
  // owner of its children.
  std::unordered_map<Node*, int> pending;
  std::unordered_map<VariableState*, int> leaf_pending;  // edges into each leaf, for on_grad_ready
  std::vector<std::shared_ptr<Node>> stack{state_->creator};
  pending[state_->creator.get()] = 0;
  while (!stack.empty()) {
    std::shared_ptr<Node> node = stack.back();
    stack.pop_back();
    for (const Variable& in : node->inputs) {
      if (!in.defined()) continue;
      if (in.is_leaf()) {
        ++leaf_pending[in.state_.get()];
        continue;
      }
      auto [it, inserted] = pending.try_emplace(in.creator().get(), 0);
      ++it->second;
      if (inserted) stack.push_back(in.creator());
    }
  }
  for (auto& [node, count] : pending)
    LAT_CHECK(node->backward != nullptr, "backward through '", node->name,
              "' a second time: the graph was freed by the first backward");

  std::unordered_map<Node*, std::vector<Tensor>> grads;
  grads[state_->creator.get()].resize(state_->creator->output_shapes.size());
  grads[state_->creator.get()][static_cast<size_t>(state_->output_index)] = seed;
  std::vector<std::shared_ptr<Node>> ready{state_->creator};
  while (!ready.empty()) {
    std::shared_ptr<Node> owner = ready.back();
    Node* node = owner.get();
    ready.pop_back();
    std::vector<Tensor> outs = std::move(grads[node]);
    grads.erase(node);
    outs.resize(node->output_shapes.size());
    for (size_t i = 0; i < outs.size(); ++i)
      if (!outs[i].defined()) outs[i] = Tensor::zeros(node->output_shapes[i], node->output_dtypes[i], node->device);
    std::vector<Tensor> in_grads = node->backward(outs);
    node->backward = nullptr;  // frees the saved tensors now
    profile::mark("backward", node->name);
    LAT_CHECK(in_grads.size() == node->inputs.size(), "backward of '", node->name, "' returned ", in_grads.size(),
              " gradients for ", node->inputs.size(), " inputs");
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      const Variable& in = node->inputs[i];
      if (!in.defined()) continue;
      const Tensor& g = in_grads[i];
      if (g.defined() && g.shape() != in.shape())
        LAT_THROW("backward of '", node->name, "' produced a gradient of shape ", g.shape().str(), " for input ", i,
                  " of shape ", in.shape().str());
      if (in.is_leaf()) {
        if (g.defined()) accumulate_leaf(*in.state_, g);
        if (--leaf_pending[in.state_.get()] == 0 && in.state_->on_grad_ready) in.state_->on_grad_ready();
        continue;
      }
      Node* child = in.creator().get();
      auto& slots = grads[child];
      slots.resize(child->output_shapes.size());
      if (g.defined()) accumulate(slots[static_cast<size_t>(in.output_index())], g);
      if (--pending[child] == 0) ready.push_back(in.creator());
    }
    node->inputs.clear();
    profile::mark("backward", "(gradient accumulation)");
    if (t_progress_hook) t_progress_hook();
  }
}

}  // namespace lat::autograd
