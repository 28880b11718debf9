#include "trainers/sharded_optimizer.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "core/host.h"
#include "core/log.h"

namespace lat::trainers {
namespace {

Tensor flat_view(const Tensor& t) {
  return t.view(Shape{t.numel()});
}

std::string describe_counts(const std::vector<int64_t>& counts) {
  std::string out;
  for (size_t r = 0; r < counts.size(); ++r) out += (r ? ", " : "") + std::to_string(counts[r]);
  return out;
}

}  // namespace

ShardedOptimizer::ShardedOptimizer(GradientReducer& reducer, const optim::AdamWConfig& config)
    : reducer_(reducer), comm_(reducer.communicator()) {
  LAT_CHECK(reducer.reduction() == GradientReduction::ReduceScatter,
            "ZeRO-1 needs a gradient reducer that reduce-scatters its buckets");
  const auto& params = reducer_.parameters();
  const int64_t rank = comm_.rank(), world = comm_.world_size();
  const auto layout = reducer_.bucket_layout();
  for (size_t b = 0; b < layout.size(); ++b) {
    const int64_t n = reducer_.bucket_buffer(b).numel() / world;
    const int64_t lo = rank * n, hi = lo + n;  // this rank's chunk of the bucket
    int64_t offset = 0;                        // where parameter k starts in the bucket
    for (size_t k : layout[b]) {
      const int64_t numel = params[k].variable.data().numel();
      const int64_t begin = std::max(lo, offset), end = std::min(hi, offset + numel);
      if (begin < end) segments_.push_back({k, b, begin - offset, begin - lo, end - begin});
      offset += numel;
    }
  }
  for (const auto& p : params) total_numel_ += p.variable.data().numel();
  for (const Segment& s : segments_) {
    const auto& p = params[s.param];
    LAT_CHECK(p.variable.data().is_contiguous(), "ZeRO-1: parameter '", p.name, "' is not contiguous");
    Tensor view = flat_view(p.variable.data()).slice(0, s.param_offset, s.param_offset + s.numel);
    shard_.push_back({fmt::format("{}[{}:{}]", p.name, s.param_offset, s.param_offset + s.numel),
                      autograd::Variable(view, true), p.weight_decay});
  }
  adamw_ = std::make_unique<optim::AdamW>(shard_, config);
  // What AdamW allocated (m; v has the same shapes), counted over every rank: for the log, and for the invariant
  // that the shards cover the model exactly once.
  for (const auto& entry : adamw_->state().exp_avg) shard_numel_ += entry.second.numel();
  std::vector<int64_t> counts(static_cast<size_t>(world));
  int64_t covered = 0;
  for (int64_t r = 0; r < world; ++r) {
    counts[static_cast<size_t>(r)] =
        static_cast<int64_t>(comm_.all_reduce_sum(r == rank ? static_cast<double>(shard_numel_) : 0.0));
    covered += counts[static_cast<size_t>(r)];
  }
  LAT_CHECK(covered == total_numel_, "ZeRO-1: the ranks' shards hold ", covered, " elements, the model has ",
            total_numel_);
  LAT_CHECK(*std::min_element(counts.begin(), counts.end()) > 0, "distributed.zero = 1: with ", world,
            " ranks some rank would own no parameter of this ", total_numel_,
            "-parameter model (per rank: ", describe_counts(counts), "); set distributed.zero = 0");
  const double bytes_per_element =
      2.0 * static_cast<double>(dtype_size(params.front().variable.dtype()));  // m, v
  if (comm_.is_root())
    log_info("ZeRO-1: AdamW state per rank: {} of {} elements (1/{} = {:.1f}); m and v on rank 0: {} of {}",
             describe_counts(counts), total_numel_, world,
             static_cast<double>(total_numel_) / static_cast<double>(world),
             format_bytes(bytes_per_element * static_cast<double>(counts.front())),
             format_bytes(bytes_per_element * static_cast<double>(total_numel_)));
}

Tensor ShardedOptimizer::chunk(size_t bucket) {
  Tensor& flat = reducer_.bucket_buffer(bucket);
  const int64_t n = flat.numel() / comm_.world_size();
  return flat.slice(0, comm_.rank() * n, (comm_.rank() + 1) * n);
}

void ShardedOptimizer::point_gradients_at_chunks() {
  for (size_t i = 0; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    shard_[i].variable.grad() = chunk(s.bucket).slice(0, s.chunk_offset, s.chunk_offset + s.numel);
  }
}

optim::GradientNorm ShardedOptimizer::grad_norm(double max_norm) {
  point_gradients_at_chunks();
  return optim::global_grad_norm(shard_, max_norm,
                                 [this](Tensor& sum_of_squares) { comm_.all_reduce_sum(sum_of_squares); });
}

optim::GradientNorm ShardedOptimizer::check(optim::StepGuard& guard, const Tensor& loss,
                                            const Tensor& invalid_targets) {
  point_gradients_at_chunks();
  return guard.check(shard_, loss, invalid_targets,
                     [this](Tensor& sum_of_squares) { comm_.all_reduce_sum(sum_of_squares); });
}

void ShardedOptimizer::gather_parameters() {
  const auto& params = reducer_.parameters();
  const auto layout = reducer_.bucket_layout();
  for (size_t b = 0; b < layout.size(); ++b) {
    Tensor mine = chunk(b);
    for (size_t i = 0; i < segments_.size(); ++i)
      if (segments_[i].bucket == b)
        mine.slice(0, segments_[i].chunk_offset, segments_[i].chunk_offset + segments_[i].numel)
            .copy_(shard_[i].variable.data());
    Tensor& flat = reducer_.bucket_buffer(b);
    comm_.all_gather(flat);
    int64_t offset = 0;
    for (size_t k : layout[b]) {
      Tensor p = params[k].variable.data();
      const int64_t numel = p.numel();
      p.copy_(flat.slice(0, offset, offset + numel).view(p.shape()));
      offset += numel;
    }
  }
}

std::map<std::string, Tensor> ShardedOptimizer::gather(const std::vector<Tensor>& shard_values) {
  const auto& params = reducer_.parameters();
  const auto layout = reducer_.bucket_layout();
  std::map<std::string, Tensor> whole;
  for (size_t b = 0; b < layout.size(); ++b) {
    Tensor mine = chunk(b);
    for (size_t i = 0; i < segments_.size(); ++i)
      if (segments_[i].bucket == b)
        mine.slice(0, segments_[i].chunk_offset, segments_[i].chunk_offset + segments_[i].numel)
            .copy_(shard_values[i]);
    Tensor& flat = reducer_.bucket_buffer(b);
    comm_.all_gather(flat);
    if (!comm_.is_root()) continue;
    int64_t offset = 0;
    for (size_t k : layout[b]) {
      const Tensor& p = params[k].variable.data();
      const Tensor values = flat.slice(0, offset, offset + p.numel()).view(p.shape());
      whole[params[k].name] = values.device().is_cpu() ? values.clone() : values.to(Device::cpu());
      offset += p.numel();
    }
  }
  return whole;
}

optim::AdamWState ShardedOptimizer::gather_state() {
  const optim::AdamWState shard = adamw_->state();
  std::vector<Tensor> m, v;
  for (const auto& s : shard_) {
    m.push_back(shard.exp_avg.at(s.name));
    v.push_back(shard.exp_avg_sq.at(s.name));
  }
  optim::AdamWState whole;
  whole.step = shard.step;
  whole.exp_avg = gather(m);
  whole.exp_avg_sq = gather(v);
  return whole;
}

void ShardedOptimizer::load_state(const optim::AdamWState& whole) {
  const auto& params = reducer_.parameters();
  optim::validate_state(params, whole);
  optim::AdamWState shard;
  shard.step = whole.step;
  for (size_t i = 0; i < segments_.size(); ++i) {
    const Segment& s = segments_[i];
    const std::string& name = params[s.param].name;
    auto mine = [&s](const Tensor& t) { return flat_view(t.contiguous()).slice(0, s.param_offset, s.param_offset + s.numel); };
    shard.exp_avg[shard_[i].name] = mine(whole.exp_avg.at(name));
    shard.exp_avg_sq[shard_[i].name] = mine(whole.exp_avg_sq.at(name));
  }
  adamw_->load_state(shard);
}

}  // namespace lat::trainers
