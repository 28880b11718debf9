// ZeRO-1 (distributed.zero = 1; docs/distributed.md): the optimizer step when each of W data-parallel ranks
// keeps AdamW's state (m and v) for only 1/W of the parameters.
//
// The shard is this rank's chunk of every gradient bucket: the GradientReducer, built with
// GradientReduction::ReduceScatter, reduce-scatters each bucket's flat buffer during backward, so after
// finish() chunk rank of bucket b holds the averaged gradients of the elements this rank owns. Those elements
// are cut into segments, one per parameter they fall in; each segment is an AdamW parameter of its own whose
// data is a view of the model's parameter (the fp32 master weights, updated in place) and whose gradient is a
// view of the reducer's chunk, so the AdamW of optim/adamw.h, unchanged, steps the shard and allocates state
// for it alone. Afterwards gather_parameters() all-gathers every rank's updated chunks through the same flat
// buffers, and every rank's whole model holds the same parameters again.
//
// The global gradient norm for clipping is each rank's sum of squares over its shard, all-reduced: the same
// number as the unsharded norm up to the order of the double-precision sum. Checkpoints hold the whole state
// (gather_state at save, load_state takes this rank's shard of any checkpoint), so they are the files of a
// run without ZeRO and resume at any world size, with or without it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autograd/nn/module.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "optim/step_guard.h"
#include "trainers/communicator.h"
#include "trainers/gradient_reducer.h"

namespace lat::trainers {

class ShardedOptimizer {
 public:
  // `reducer` must reduce-scatter (GradientReduction::ReduceScatter) and outlive this. Logs, on rank 0, how
  // many elements of state each rank holds (a collective: every rank constructs one). Throws lat::Error when
  // a rank would own no element (a model with fewer parameters than ranks).
  ShardedOptimizer(GradientReducer& reducer, const optim::AdamWConfig& config);
  ShardedOptimizer(const ShardedOptimizer&) = delete;
  ShardedOptimizer& operator=(const ShardedOptimizer&) = delete;

  // After the reducer's finish(): points the shard's gradients at this rank's averaged chunks and returns the
  // global norm (every rank's shard; one all-reduce of a scalar, on the device) and the clip factor.
  optim::GradientNorm grad_norm(double max_norm);
  // The same for the step guard (optim/step_guard.h): its norm, clip factor and verdict over every rank's
  // shard, so that a NaN in any rank's gradient makes every rank skip.
  optim::GradientNorm check(optim::StepGuard& guard, const Tensor& loss, const Tensor& invalid_targets);
  // The AdamW over this rank's shard (step it with grad_norm's factor).
  optim::AdamW& optimizer() { return *adamw_; }
  const optim::AdamW& optimizer() const { return *adamw_; }
  // After the step: every rank's updated parameter chunks into every rank's model (one all-gather per
  // bucket).
  void gather_parameters();

  // The whole AdamW state for a checkpoint, under the model's parameter names: on rank 0 every parameter's m
  // and v (CPU tensors), on the other ranks only the step count. A collective (all-gathers through the
  // buckets).
  optim::AdamWState gather_state();
  // Takes this rank's shard of a whole state (any checkpoint's, sharded or not, from any world size). Throws
  // lat::Error naming the parameter when the state does not fit the model; nothing changes then.
  void load_state(const optim::AdamWState& whole);

  // Elements of each moment (m, and as many of v) this rank holds, and the model's parameter count.
  int64_t shard_numel() const { return shard_numel_; }
  int64_t total_numel() const { return total_numel_; }

 private:
  // The shard's gradients become views of this rank's reduced chunks (after the reducer's finish()).
  void point_gradients_at_chunks();
  // A run of elements this rank owns inside one parameter.
  struct Segment {
    size_t param = 0;  // index into the reducer's parameters
    size_t bucket = 0;
    int64_t param_offset = 0;  // first element, in the flattened parameter
    int64_t chunk_offset = 0;  // first element, within this rank's chunk of the bucket
    int64_t numel = 0;
  };
  Tensor chunk(size_t bucket);  // this rank's chunk of a bucket's flat buffer
  // Every rank's chunk of `shard_values` (one tensor per segment) gathered into whole per-parameter tensors,
  // kept on rank 0 as CPU tensors under the parameter names.
  std::map<std::string, Tensor> gather(const std::vector<Tensor>& shard_values);

  GradientReducer& reducer_;
  Communicator& comm_;
  std::vector<Segment> segments_;
  std::vector<autograd::nn::NamedParameter> shard_;  // parallel to segments_
  std::unique_ptr<optim::AdamW> adamw_;
  int64_t shard_numel_ = 0, total_numel_ = 0;
};

}  // namespace lat::trainers
