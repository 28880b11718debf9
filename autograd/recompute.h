// Activation recomputation (gradient checkpointing): a part of the model keeps only its input during the
// forward and runs its forward again during backward, trading compute for the memory of its activations.
//
// recompute(name, fn, x) returns fn(x)'s value as one node of the tape whose only saved tensor is x. Its
// backward reruns fn on x (a fresh leaf) with grad mode on and back-propagates the incoming gradient through
// that private graph: the parameters fn uses receive their gradients (and their grad-ready hooks fire) there,
// and x's gradient is returned to the outer graph. The forward also runs with grad mode on and x requiring
// grad, exactly as without recompute (ops choose what to save from that), and drops its graph at once, so
// both runs compute the same values bit for bit.
//
// Contract for fn: a pure function of its input and the module state it captures. It is called twice, the
// second time after the caller's forward has returned, so it must capture by value whatever else it reads
// (extra arguments such as document boundaries: tensors are handles, cheap to copy). Randomness must be
// replayable: lat's is (random features are a function of seed, layer and draw; there is no dropout). The
// parameters fn uses must not be used outside it (their grad-ready hook fires inside this backward).
#pragma once

#include <functional>

#include "autograd/variable.h"

namespace lat::autograd {

using RecomputeFn = std::function<Variable(const Variable&)>;

// fn(x), recomputed in backward. Without grad mode, or when x does not require grad (nothing to send back,
// and the parameters' gradients would then need the graph), it is simply fn(x).
Variable recompute(const char* name, RecomputeFn fn, const Variable& x);

}  // namespace lat::autograd
