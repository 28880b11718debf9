// The deterministic, sharded, resumable loader.
//
// Windows [0, W) of a WindowSource split into training windows [0, W - V) and validation windows [W - V, W)
// (V = held_out_windows(W, val_fraction)): the tail is held out, so no training window is ever a validation
// window. Alternatively the validation windows come from a source of their own (held-out files) and V = 0.
// Each epoch visits the training windows in the order of a Philox-keyed permutation of (seed, epoch). Step s
// of an epoch takes the global batch of G = batch_size · world_size consecutive permuted windows starting at
// index = s · G; rank r keeps rows [r B, (r + 1) B). So the rows of 2 ranks × B are exactly those of 1 rank ×
// 2B, and a position saved on any rank resumes every rank (and resumes with a different world size, as long
// as the global batch is the same). An epoch has floor((W - V) / G) steps; the tail of the permutation that
// does not fill a batch is skipped that epoch.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "data/window.h"

namespace lat::data {

// V, the validation windows held out of the end of W windows: round(val_fraction · W), at least 1 when
// val_fraction > 0 (the one definition, shared with trainers' evaluation sources).
int64_t held_out_windows(int64_t num_windows, double val_fraction);

// One batch: inputs and targets, i32 [B, T] on the CPU (the trainer moves them to the device), and where each
// input's document begins (data/documents.h), i32 [B, T], when the loader has a document separator (else
// undefined: one document per row). It moves to the device with the inputs, so the kernels read it there.
struct Batch {
  Tensor inputs;
  Tensor targets;
  Tensor document_starts;
};

struct LoaderConfig {
  int64_t batch_size = 8;  // rows per rank, B
  int rank = 0;
  int world_size = 1;
  uint64_t seed = 0;
  bool shuffle = true;        // false: windows in order (epochs then repeat identically)
  double val_fraction = 0.0;  // in [0, 1): share of windows held out for validation
  // The token that begins each document (data/documents.h): batches then carry document_starts. -1: no
  // boundaries (MQAR, or data.document_boundaries = false). Not part of the position: the same windows either way.
  int32_t document_separator = -1;
};

// The exact position of a loader, a POD for checkpoints: the first four fields say where it is, the rest
// identify the data it indexes (restore() refuses a position from a different setup, naming the field).
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t index = 0;    // first global row of the next batch within the epoch's permutation
  int64_t batches = 0;  // training batches produced so far, over all epochs
  uint64_t seed = 0;
  int64_t num_windows = 0;
  int64_t num_val_windows = 0;
  int64_t seq_len = 0;
  int64_t global_batch = 0;
  int64_t shuffle = 1;

  // The fields as named int64s (seed bit-cast), for writing into a checkpoint's /state and reading back.
  static constexpr int kNumFields = 9;
  static const std::array<const char*, kNumFields>& field_names();
  std::array<int64_t, kNumFields> to_array() const;
  static LoaderPosition from_array(const std::array<int64_t, kNumFields>& values);
};

// Iterates the validation windows in order from the beginning: every call of Loader::validation() gives
// the same batches. Rank r keeps rows [r B, (r + 1) B) of each global validation batch.
class ValidationIterator {
 public:
  // Fills `out` and returns true, or returns false after the last batch.
  bool next(Batch& out);
  int64_t num_batches() const { return num_batches_; }

 private:
  friend class Loader;
  ValidationIterator(std::shared_ptr<const WindowSource> source, const LoaderConfig& config, int64_t first_window,
                     int64_t num_batches)
      : source_(std::move(source)), config_(config), first_window_(first_window), num_batches_(num_batches) {}
  std::shared_ptr<const WindowSource> source_;
  LoaderConfig config_;
  int64_t first_window_;
  int64_t num_batches_;
  int64_t next_ = 0;
};

class Loader {
 public:
  // Throws lat::Error for a bad config (rank outside [0, world_size), batch_size < 1, val_fraction outside
  // [0, 1)) or too little data (fewer training windows than one global batch, or a validation split smaller
  // than one global batch), naming the numbers.
  // With `validation` (a source of held-out windows at the same seq_len), validation() iterates it instead
  // of a tail of `source`; config.val_fraction must then be 0.
  Loader(std::shared_ptr<const WindowSource> source, const LoaderConfig& config,
         std::shared_ptr<const WindowSource> validation = nullptr);

  // The next training batch of this rank; rolls into the next epoch when the current one is used up.
  Batch next();
  // The validation batches from the start; at most max_batches (negative: all).
  ValidationIterator validation(int64_t max_batches = -1) const;

  LoaderPosition position() const { return position_; }
  // Continue from a saved position: the next batch is the one that followed it when it was saved.
  void restore(const LoaderPosition& position);

  const LoaderConfig& config() const { return config_; }
  const WindowSource& source() const { return *source_; }
  int64_t seq_len() const { return source_->seq_len(); }
  int64_t global_batch() const { return config_.batch_size * config_.world_size; }
  int64_t num_train_windows() const { return num_train_; }
  // Validation windows: the held-out tail of the source, or the separate validation source's windows.
  int64_t num_val_windows() const { return validation_->num_windows() - val_first_; }
  int64_t steps_per_epoch() const { return num_train_ / global_batch(); }
  int64_t num_val_batches() const { return num_val_windows() / global_batch(); }
  // The training window of global row `row` of the epoch's order (what rank r, row j of a batch at index i
  // reads is window_of(epoch, i + r B + j)).
  int64_t window_of(int64_t epoch, int64_t row) const;

 private:
  std::shared_ptr<const WindowSource> source_;
  std::shared_ptr<const WindowSource> validation_;  // source_ itself when the tail is held out
  LoaderConfig config_;
  int64_t num_train_ = 0, num_val_ = 0;  // num_val_: windows held out of source_
  int64_t val_first_ = 0;                // first validation window of validation_
  LoaderPosition position_;
};

// Fills rows of a [B, T] batch from windows: row j is window windows[j]; document_starts from the inputs when
// document_separator ≥ 0.
Batch make_batch(const WindowSource& source, const std::vector<int64_t>& windows, int32_t document_separator = -1);

}  // namespace lat::data
