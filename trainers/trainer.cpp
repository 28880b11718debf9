#include "trainers/trainer.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/error.h"
#include "core/log.h"
#include "core/stop.h"
#include "core/timer.h"
#include "data/loader.h"
#include "data/mqar.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "optim/schedule.h"
#include "trainers/checkpoint.h"
#include "trainers/checkpoint_writer.h"
#include "trainers/gradient_reducer.h"
#include "trainers/metrics.h"
#include "trainers/model_weights.h"
#include "trainers/run_dir.h"
#include "trainers/run_tokenizer.h"
#include "trainers/session.h"
#include "trainers/setup.h"
#include "trainers/skip_monitor.h"

namespace lat::trainers {
namespace fs = std::filesystem;
using autograd::Variable;

namespace {

// Loader positions travel in checkpoints as int64 rows (one per rank).
std::vector<int64_t> pack(const data::LoaderPosition& p) {
  auto a = p.to_array();
  return {a.begin(), a.end()};
}

data::LoaderPosition unpack(const std::vector<int64_t>& v, const std::string& file) {
  std::array<int64_t, data::LoaderPosition::kNumFields> a{};
  if (v.size() != a.size())
    LAT_THROW("checkpoint '", file, "': loader position has ", v.size(), " fields, expected ", a.size());
  std::copy(v.begin(), v.end(), a.begin());
  return data::LoaderPosition::from_array(a);
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : fallback;
}

}  // namespace

struct Trainer::State {
  Recipe recipe;
  TrainOptions options;
  Communicator& comm;
  Device device;
  std::unique_ptr<TrainingSession> session;
  int64_t step = 0;  // optimizer steps completed
  int64_t tokens_seen = 0;
  int64_t feature_draw = 0;  // random-feature attention: which Philox draw of W is in use
  MetricsHistory history;
  std::string checkpoint_dir;
  std::string tokenizer;  // data.tokenizer as tokenizer.json text, stored in every checkpoint ("" for bytes)
  SkipMonitor skips;
  std::vector<StepMetrics::Skipped> skipped_since_log;
  std::string last_good_checkpoint;  // the newest one written while no step was being skipped
  CheckpointWriter writer;

  State(const Recipe& r, const TrainOptions& o, Communicator& c)
      : recipe(r), options(o), comm(c), skips(recipe, c.rank()), writer(r.checkpoint.async) {}

  // Tokens one step consumes over all ranks.
  int64_t tokens_per_step() const { return session->tokens_per_step() * comm.world_size(); }
  autograd::nn::LanguageModel& model() { return session->model(); }
  const std::vector<autograd::nn::NamedParameter>& params() const { return session->parameters(); }

  // `st`: the whole optimizer state (TrainingSession::optimizer_state, gathered from every rank under ZeRO-1).
  Checkpoint make_checkpoint(const optim::AdamWState& st) const {
    Checkpoint ck;
    for (const auto& p : params()) ck.model[p.name] = p.variable.data().to(Device::cpu()).clone();
    for (auto& [name, t] : st.exp_avg) ck.optim_m[name] = t.to(Device::cpu()).clone();
    for (auto& [name, t] : st.exp_avg_sq) ck.optim_v[name] = t.to(Device::cpu()).clone();
    ck.optim_step = st.step;
    ck.step = step;
    ck.tokens_seen = tokens_seen;
    ck.world_size = comm.world_size();
    // Every rank's position is the same global position (data/loader.h), stored once per rank.
    ck.loader_positions.assign(static_cast<size_t>(comm.world_size()), pack(session->loader().position()));
    ck.recipe = recipe.to_toml();
    ck.tokenizer = tokenizer;
    ck.metrics = history;
    if (uses_random_features()) {
      // W itself for analysis; the draw index restores it bit for bit (W is a function of seed, layer, draw).
      ck.rng_offsets["random_features.draw"] = static_cast<uint64_t>(feature_draw);
      for (auto* block : session->model().blocks())
        ck.random_features["layers." + std::to_string(block->attention().config().layer) + ".attention"] =
            block->attention().random_features().to(DType::F32);
    }
    return ck;
  }

  void load_checkpoint(const Checkpoint& ck, const std::string& file) {
    if (ck.tokenizer != tokenizer)
      LAT_THROW("cannot resume from '", file, "': it was trained with ",
                ck.tokenizer.empty() ? "the byte tokenizer" : "another tokenizer", ", not ",
                tokenizer.empty() ? "bytes" : "data.tokenizer = '" + recipe.data.tokenizer + "'");
    load_model_weights(params(), ck, file);
    optim::AdamWState st;
    st.step = ck.optim_step;
    st.exp_avg = ck.optim_m;
    st.exp_avg_sq = ck.optim_v;
    session->load_optimizer_state(st);
    if (ck.loader_positions.empty()) LAT_THROW("checkpoint '", file, "' has no loader position");
    // Ranks beyond the writer's world size resume from the shared global position; the loader refuses it
    // (naming the field) when the global batch differs.
    const data::LoaderPosition saved = unpack(ck.loader_positions.front(), file);
    if (saved.global_batch != session->loader().global_batch())
      LAT_THROW("cannot resume from '", file, "': it was written with a global batch of ", saved.global_batch,
                " rows (", ck.world_size, " ranks x ", saved.global_batch / std::max<int64_t>(ck.world_size, 1),
                ") but this run has ", session->loader().global_batch(), " (", comm.world_size(), " ranks x ",
                recipe.training.batch_size, "); set training.batch_size so that ranks x training.batch_size = ",
                saved.global_batch);
    session->loader().restore(saved);
    step = ck.step;
    tokens_seen = ck.tokens_seen;
    history = ck.metrics;
    if (uses_random_features()) {
      auto it = ck.rng_offsets.find("random_features.draw");
      if (it == ck.rng_offsets.end()) LAT_THROW("checkpoint '", file, "' has no random_features.draw for random-feature attention");
      set_feature_draw(static_cast<int64_t>(it->second));
    }
  }

  bool uses_random_features() const {
    return recipe.attention.kind == AttentionKind::Linear && recipe.attention.feature_map == FeatureMap::Random;
  }
  void set_feature_draw(int64_t draw) {
    feature_draw = draw;
    for (auto* block : session->model().blocks()) block->attention().redraw_random_features(draw);
  }
  // FAVOR+ redraw policy (SPEC §2): a fresh W every resolved attention.redraw_interval steps (0: frozen).
  void maybe_redraw_features() {
    const int64_t interval = recipe.resolved_redraw_interval();
    if (!uses_random_features() || interval <= 0 || step == 0 || step % interval != 0) return;
    set_feature_draw(step / interval);
  }

  // Root hands a host copy of the state to the writer (in the background with checkpoint.async); while steps
  // are being skipped, pruning keeps the last checkpoint from before. finish_checkpoints() waits for it.
  std::string save() {
    std::string path;
    const optim::AdamWState optimizer_state = session->optimizer_state();  // every rank: a gather under ZeRO-1
    if (comm.is_root()) {
      const Timer blocked;
      path = writer.submit(make_checkpoint(optimizer_state), checkpoint_dir, recipe.checkpoint.keep_last,
                           skips.consecutive() > 0 ? last_good_checkpoint : "");
      if (skips.consecutive() == 0) last_good_checkpoint = path;
      log_debug("checkpoint of step {}: {:.1f} ms on the training thread ({})", step, 1e3 * blocked.seconds(),
                writer.async() ? "wait for the previous write, copy, hand-off" : "copy and write");
    }
    if (!writer.async()) comm.barrier();
    return path;
  }
  void finish_checkpoints() {
    if (comm.is_root()) writer.wait();
    comm.barrier();
  }
  // The verdicts of the steps since the last read (optim/step_guard.h); throws when too many were skipped.
  void read_verdicts() {
    if (!skips.has_pending()) return;
    std::vector<StepMetrics::Skipped> skipped;
    try {
      skipped = skips.read(*session, last_good_checkpoint);
    } catch (...) {
      if (comm.is_root()) writer.wait();  // a checkpoint being written is completed before the run stops
      throw;
    }
    skipped_since_log.insert(skipped_since_log.end(), skipped.begin(), skipped.end());
  }

  // Mean validation loss (and MQAR accuracy) over up to eval_batches batches, averaged over ranks.
  std::pair<double, std::optional<double>> evaluate() {
    autograd::NoGradGuard no_grad;
    data::ValidationIterator it = session->loader().validation(recipe.training.eval_batches);
    data::Batch batch;
    double loss_sum = 0, batches = 0;
    data::MqarAccuracy acc;
    const bool mqar = recipe.data.kind == DataKind::Mqar;
    while (it.next(batch)) {
      Tensor inputs = batch.inputs.to(device), targets = batch.targets.to(device);
      Tensor starts = batch.document_starts.defined() ? batch.document_starts.to(device) : Tensor();
      Variable logits = session->model().logits(inputs, starts);
      Variable loss = autograd::softmax_cross_entropy(logits, targets.reshape({-1}), data::kIgnoreIndex);
      loss_sum += loss.data().item();
      batches += 1;
      if (mqar) {
        Tensor pred = data::argmax_last_dim(logits.data()).reshape(batch.targets.shape().vec());
        acc += data::mqar_accuracy(pred, batch.targets);
      }
    }
    loss_sum = comm.all_reduce_sum(loss_sum);
    batches = comm.all_reduce_sum(batches);
    std::optional<double> accuracy;
    if (mqar) {
      const double correct = comm.all_reduce_sum(static_cast<double>(acc.correct));
      const double total = comm.all_reduce_sum(static_cast<double>(acc.total));
      accuracy = total > 0 ? correct / total : 0.0;
    }
    return {batches > 0 ? loss_sum / batches : std::nan(""), accuracy};
  }

  std::unique_ptr<GradientReducer> reducer;  // world size > 1 only
};

Trainer::Trainer(const Recipe& recipe, const TrainOptions& options, Communicator& comm)
    : s_(std::make_unique<State>(recipe, options, comm)) {
  State& s = *s_;
  set_log_level(recipe.logging.level);
  s.device = resolve_device(recipe);
  s.recipe.data.document_boundaries = document_boundaries_on(recipe, s.device);  // what this run does, recorded
  comm.set_watchdog(static_cast<double>(recipe.distributed.watchdog_seconds));
  if (options.overwrite && !options.resume.empty())
    LAT_THROW("--overwrite starts a fresh run and cannot be combined with --resume ", options.resume);
  if (options.allow_fresh && options.resume != "auto")
    LAT_THROW("--allow-fresh applies only to --resume auto");
  s.checkpoint_dir = (fs::path(options.run_dir) / recipe.checkpoint.dir).string();
  if (comm.is_root()) prepare_run_dir(options.run_dir, s.checkpoint_dir);
  comm.barrier();

  // Resume source first: a bad --resume path must fail before anything is written.
  std::optional<Checkpoint> resume;
  std::string resume_file;
  if (options.resume == "auto") {
    const CheckpointScan scan = scan_checkpoints(s.checkpoint_dir);
    if (scan.latest || scan.damaged.empty() || options.allow_fresh) {
      for (const std::string& path : scan.ignored)
        log_warn("ignoring '{}': not a checkpoint name lat writes (the step does not fit a 64-bit integer)", path);
      for (const std::string& why : scan.damaged) log_warn("skipping unusable checkpoint: {}", why);
    }
    if (scan.latest) {
      resume_file = *scan.latest;
    } else if (!scan.damaged.empty() && !options.allow_fresh) {
      LAT_THROW("--resume auto: no usable checkpoint in '", s.checkpoint_dir, "' (", scan.damaged.size(),
                " damaged; newest: ", scan.damaged.front(),
                "); pass --allow-fresh to start from step 0 anyway (the damaged files are kept)");
    } else {
      log_info("--resume auto: no usable checkpoint in {}, starting fresh", s.checkpoint_dir);
    }
  } else if (!options.resume.empty()) {
    resume_file = options.resume;
  }
  if (!resume_file.empty()) resume = read_checkpoint(resume_file);
  if (resume && options.resume != "auto") refuse_newer_checkpoints(s.checkpoint_dir, resume_file, resume->step);
  s.session = std::make_unique<TrainingSession>(recipe, s.device, comm.rank(), comm.world_size());
  s.tokenizer = TextCodec(recipe_tokenizer(recipe)).stored();
  if (recipe.training.eval_interval > 0 && s.session->loader().num_val_windows() == 0)
    recipe.fail(has_separate_validation(recipe) ? "data.val_path" : "data.val_fraction",
                fmt::format("no validation data, but training.eval_interval = {} asks for validation (set "
                            "training.eval_interval = 0, or data.val_fraction > 0)",
                            recipe.training.eval_interval));
  // Also NCCL at world size 1 (mpirun -np 1): the bucket machinery's cost can then be measured against none.
  if (comm.world_size() > 1 || comm.name() == "nccl") {
    const GradientReduction reduction = zero_sharding(recipe, comm.world_size()) ? GradientReduction::ReduceScatter
                                                                                 : GradientReduction::AllReduce;
    s.reducer = std::make_unique<GradientReducer>(s.params(), comm, recipe.distributed.bucket_mb,
                                                  recipe.distributed.overlap, 1.0, OverlapMode::Auto, reduction);
    s.session->set_reducer(s.reducer.get());
  }
  s.session->set_communicator(&comm);
  const StepFaults faults = StepFaults::from_environment();  // test-only (tests/trainers/test_step_guard.cpp)
  if (faults.rank < 0 || faults.rank == comm.rank()) s.session->set_faults(faults);

  if (resume) {
    s.load_checkpoint(*resume, resume_file);
    s.last_good_checkpoint = resume_file;
    log_info("resumed from {} at step {}", resume_file, s.step);
  } else if (comm.world_size() > 1) {
    // Identical initialisation is already guaranteed by Philox; broadcasting makes it a fact.
    for (const auto& p : s.params()) {
      Tensor t = p.variable.data();
      comm.broadcast(t, 0);
    }
  }
  // Last, once everything has validated: the run directory's files change only now.
  if (comm.is_root()) {
    if (options.resume.empty()) claim_for_fresh_run(options.run_dir, s.checkpoint_dir, options.overwrite);
    write_text_file((fs::path(options.run_dir) / "recipe.toml").string(), s.recipe.to_toml());
    // Each step once, in order: the rows past the step this run starts from are logged again as it redoes them.
    keep_metrics_through((fs::path(options.run_dir) / "metrics.jsonl").string(), s.step);
  }
}

Trainer::~Trainer() = default;

const autograd::nn::LanguageModel& Trainer::model() const { return s_->session->model(); }
Device Trainer::device() const { return s_->device; }

void Trainer::install_signal_handlers() { install_stop_handlers(); }

TrainResult Trainer::run() {
  State& s = *s_;
  const Recipe& r = s.recipe;
  Communicator& comm = s.comm;
  const int64_t total = r.training.steps;
  const bool root = comm.is_root();
  const int64_t fail_rank = env_int("LAT_TEST_FAIL_RANK", -1), fail_step = env_int("LAT_TEST_FAIL_STEP", -1);
  const char* fail_mode = std::getenv("LAT_TEST_FAIL_MODE");
  const bool fail_hang = fail_mode != nullptr && std::string(fail_mode) == "hang";

  if (root) {
    log_info("lat-train: {} on {} ({} rank{}), {} parameters, {:.3g} FLOPs/token, data {}",
             to_string(r.attention.kind) + std::string(r.attention.kind == AttentionKind::Linear
                                                           ? std::string("/") + to_string(r.attention.feature_map)
                                                           : ""),
             s.device.str(), comm.world_size(), comm.world_size() > 1 ? "s" : "", s.model().parameter_count(),
             s.model().flops_per_token(r.training.seq_len), s.session->source().describe());
  }
  std::unique_ptr<MetricsFile> metrics;
  if (root) metrics = std::make_unique<MetricsFile>((fs::path(s.options.run_dir) / "metrics.jsonl").string(), true);

  TrainResult result;
  Timer run_timer, interval_timer;
  int64_t interval_tokens = 0;
  const int64_t start_step = s.step;
  while (s.step < total) {
    if (static_cast<int64_t>(comm.rank()) == fail_rank && s.step + 1 == fail_step) {
      // LAT_TEST_FAIL_MODE=hang: the rank goes silent instead (the peers' watchdog must abort the job).
      if (fail_hang)
        for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
      LAT_THROW("test hook LAT_TEST_FAIL_RANK/LAT_TEST_FAIL_STEP: rank ", comm.rank(), " fails at step ", fail_step);
    }
    s.maybe_redraw_features();
    const TrainingSession::StepResult step = s.session->step(s.step);
    if (step.abandoned) {  // stopped between micro-batches: the state is still that of step s.step
      s.read_verdicts();
      result.last_checkpoint = s.save();
      s.finish_checkpoints();
      result.interrupted = true;
      if (root) log_info("stopped during step {}: checkpoint of step {} written to {}", s.step + 1, s.step,
                         result.last_checkpoint);
      break;
    }
    ++s.step;
    s.tokens_seen += s.tokens_per_step();
    interval_tokens += s.tokens_per_step();
    s.skips.add(s.step, step);

    const bool last = s.step == total;
    const bool log_now = last || s.step % r.logging.interval == 0;
    const bool eval_now = r.training.eval_interval > 0 && (last || s.step % r.training.eval_interval == 0);
    bool stop = stop_requested() || (s.options.stop_after > 0 && s.step - start_step >= s.options.stop_after);
    if (comm.world_size() > 1) stop = comm.all_reduce_sum(stop ? 1.0 : 0.0) > 0;
    bool checkpoint_now = r.checkpoint.interval > 0 && s.step % r.checkpoint.interval == 0;
    // The guard's verdicts: every step on the CPU (free), else when the device is read anyway.
    if (s.device.is_cpu() || log_now || eval_now || stop || checkpoint_now || last) s.read_verdicts();
    if (checkpoint_now && !last && !stop && s.skips.consecutive() > 0) {
      checkpoint_now = false;  // not while steps are being skipped: the state is in doubt
      if (root) log_info("checkpoint of step {} not written: the step guard skipped that step", s.step);
    }
    if (log_now || eval_now || stop) {
      StepMetrics m;
      m.step = s.step;
      m.total_steps = total;
      m.loss = comm.all_reduce_sum(step.loss()) / comm.world_size();
      m.skipped = std::move(s.skipped_since_log);
      s.skipped_since_log.clear();
      m.lr = step.lr;
      m.grad_norm = step.grad_norm();
      const double interval_s = interval_timer.seconds();
      m.tokens_per_s = interval_s > 0 ? static_cast<double>(interval_tokens) / interval_s : 0;
      m.elapsed_s = run_timer.seconds();
      const double per_step = m.elapsed_s / static_cast<double>(s.step - start_step);
      m.eta_s = per_step * static_cast<double>(total - s.step);
      if (eval_now) {
        auto [val, acc] = s.evaluate();
        m.val_loss = val;
        m.accuracy = acc;
        result.val_loss = val;
        result.accuracy = acc;
      }
      s.history.step.push_back(s.step);
      s.history.loss.push_back(m.loss);
      s.history.val_loss.push_back(m.val_loss.value_or(std::nan("")));
      if (root) {
        log_info("{}", format_progress(m));
        metrics->write(m);
      }
      result.last_loss = m.loss;
      result.tokens_per_s = m.tokens_per_s;
      interval_tokens = 0;
      interval_timer.reset();
    }
    if (stop) {
      result.last_checkpoint = s.save();
      s.finish_checkpoints();
      result.interrupted = true;
      if (root) log_info("stopped at step {}: checkpoint written to {}", s.step, result.last_checkpoint);
      break;
    }
    if (checkpoint_now || last) result.last_checkpoint = s.save();
  }
  s.finish_checkpoints();
  if (start_step == total && total > 0 && root) log_info("nothing to do: the checkpoint is already at step {}", total);
  result.steps_done = s.step;
  result.elapsed_s = run_timer.seconds();
  if (root && !result.interrupted)
    log_info("done: {} steps, {} tokens in {}; final loss {:.4f}{}{}; peak {} memory {:.1f} MiB; checkpoint {}",
             s.step, s.tokens_seen, format_duration(result.elapsed_s), result.last_loss,
             result.val_loss ? fmt::format(", val_loss {:.4f}", *result.val_loss) : "",
             result.accuracy ? fmt::format(", accuracy {:.3f}", *result.accuracy) : "", s.device.str(),
             static_cast<double>(allocator_for(s.device).peak_bytes()) / (1024.0 * 1024.0), result.last_checkpoint);
  return result;
}

}  // namespace lat::trainers
