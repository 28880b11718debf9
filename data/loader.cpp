#include "data/loader.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "data/documents.h"
#include "data/rng.h"

namespace lat::data {

const std::array<const char*, LoaderPosition::kNumFields>& LoaderPosition::field_names() {
  static const std::array<const char*, kNumFields> names = {
      "epoch", "index", "batches", "seed", "num_windows", "num_val_windows", "seq_len", "global_batch", "shuffle"};
  return names;
}

std::array<int64_t, LoaderPosition::kNumFields> LoaderPosition::to_array() const {
  return {epoch, index, batches, static_cast<int64_t>(seed), num_windows, num_val_windows, seq_len, global_batch,
          shuffle};
}

LoaderPosition LoaderPosition::from_array(const std::array<int64_t, kNumFields>& v) {
  LoaderPosition p;
  p.epoch = v[0];
  p.index = v[1];
  p.batches = v[2];
  p.seed = static_cast<uint64_t>(v[3]);
  p.num_windows = v[4];
  p.num_val_windows = v[5];
  p.seq_len = v[6];
  p.global_batch = v[7];
  p.shuffle = v[8];
  return p;
}

Batch make_batch(const WindowSource& source, const std::vector<int64_t>& windows, int32_t document_separator) {
  const int64_t B = static_cast<int64_t>(windows.size()), T = source.seq_len();
  Batch batch{Tensor::empty(Shape{B, T}, DType::I32), Tensor::empty(Shape{B, T}, DType::I32), Tensor()};
  int32_t* x = batch.inputs.data<int32_t>();
  int32_t* y = batch.targets.data<int32_t>();
  for (int64_t j = 0; j < B; ++j) source.window(windows[static_cast<size_t>(j)], x + j * T, y + j * T);
  if (document_separator >= 0) batch.document_starts = document_starts(batch.inputs, document_separator);
  return batch;
}

int64_t held_out_windows(int64_t num_windows, double val_fraction) {
  if (!(val_fraction > 0.0)) return 0;
  return std::max<int64_t>(1, std::llround(val_fraction * static_cast<double>(num_windows)));
}

Loader::Loader(std::shared_ptr<const WindowSource> source, const LoaderConfig& config,
               std::shared_ptr<const WindowSource> validation)
    : source_(std::move(source)), validation_(std::move(validation)), config_(config) {
  LAT_CHECK(source_ != nullptr, "loader: no data source");
  if (config_.world_size < 1) LAT_THROW("loader: world_size must be at least 1, got ", config_.world_size);
  if (config_.rank < 0 || config_.rank >= config_.world_size)
    LAT_THROW("loader: rank ", config_.rank, " outside [0, world_size ", config_.world_size, ")");
  if (config_.batch_size < 1) LAT_THROW("loader: batch_size must be at least 1, got ", config_.batch_size);
  if (!(config_.val_fraction >= 0.0 && config_.val_fraction < 1.0))
    LAT_THROW("loader: val_fraction must lie in [0, 1), got ", config_.val_fraction);
  const int64_t W = source_->num_windows();
  num_val_ = held_out_windows(W, config_.val_fraction);
  num_train_ = W - num_val_;
  if (validation_) {
    if (num_val_ > 0)
      LAT_THROW("loader: val_fraction ", config_.val_fraction, " holds out windows of ", source_->describe(),
                " although a separate validation source (", validation_->describe(), ") is given");
    if (validation_->seq_len() != source_->seq_len())
      LAT_THROW("loader: the validation source ", validation_->describe(), " has seq_len ",
                validation_->seq_len(), ", the training source ", source_->seq_len());
    if (validation_->num_windows() < global_batch())
      LAT_THROW("loader: the validation source ", validation_->describe(), " has ",
                validation_->num_windows(), " windows of seq_len ", validation_->seq_len(),
                ", fewer than one global batch of ", global_batch());
  } else {
    validation_ = source_;
    val_first_ = num_train_;
  }
  const int64_t G = global_batch();
  if (num_train_ < G)
    LAT_THROW("loader: ", source_->describe(), " gives ", num_train_, " training windows of seq_len ",
              source_->seq_len(), ", fewer than one global batch of ", G, " (batch_size ", config_.batch_size,
              " x world_size ", config_.world_size, ")");
  if (num_val_ > 0 && num_val_ < G)
    LAT_THROW("loader: the validation split of ", source_->describe(), " has ", num_val_,
              " windows, fewer than one global batch of ", G, "; raise val_fraction or lower batch_size");
  position_.seed = config_.seed;
  position_.num_windows = W;
  position_.num_val_windows = num_val_;
  position_.seq_len = source_->seq_len();
  position_.global_batch = G;
  position_.shuffle = config_.shuffle ? 1 : 0;
}

int64_t Loader::window_of(int64_t epoch, int64_t row) const {
  LAT_CHECK(row >= 0 && row < num_train_, "loader: row ", row, " outside the ", num_train_, " training windows");
  if (!config_.shuffle) return row;
  return Permutation(num_train_, config_.seed, static_cast<uint64_t>(epoch))(row);
}

Batch Loader::next() {
  const int64_t B = config_.batch_size, G = global_batch();
  const Permutation order(num_train_, config_.seed, static_cast<uint64_t>(position_.epoch));
  std::vector<int64_t> windows(static_cast<size_t>(B));
  for (int64_t j = 0; j < B; ++j) {
    const int64_t row = position_.index + config_.rank * B + j;
    windows[static_cast<size_t>(j)] = config_.shuffle ? order(row) : row;
  }
  Batch batch = make_batch(*source_, windows, config_.document_separator);
  position_.index += G;
  position_.batches += 1;
  if (position_.index + G > num_train_) {
    position_.epoch += 1;
    position_.index = 0;
  }
  return batch;
}

ValidationIterator Loader::validation(int64_t max_batches) const {
  int64_t n = num_val_batches();
  if (max_batches >= 0) n = std::min(n, max_batches);
  return ValidationIterator(validation_, config_, val_first_, n);
}

bool ValidationIterator::next(Batch& out) {
  if (next_ >= num_batches_) return false;
  const int64_t B = config_.batch_size, G = B * config_.world_size;
  std::vector<int64_t> windows(static_cast<size_t>(B));
  for (int64_t j = 0; j < B; ++j) windows[static_cast<size_t>(j)] = first_window_ + next_ * G + config_.rank * B + j;
  out = make_batch(*source_, windows, config_.document_separator);
  ++next_;
  return true;
}

void Loader::restore(const LoaderPosition& p) {
  auto same = [](const char* field, int64_t saved, int64_t now) {
    if (saved != now)
      LAT_THROW("loader: cannot resume: the saved position has ", field, " = ", saved, " but this loader has ", now);
  };
  same("seed", static_cast<int64_t>(p.seed), static_cast<int64_t>(position_.seed));
  same("num_windows", p.num_windows, position_.num_windows);
  same("num_val_windows", p.num_val_windows, position_.num_val_windows);
  same("seq_len", p.seq_len, position_.seq_len);
  same("global_batch", p.global_batch, position_.global_batch);
  same("shuffle", p.shuffle, position_.shuffle);
  if (p.epoch < 0 || p.index < 0 || p.index + global_batch() > num_train_ || p.index % global_batch() != 0 ||
      p.batches < 0)
    LAT_THROW("loader: cannot resume: position (epoch ", p.epoch, ", index ", p.index, ", batches ", p.batches,
              ") is not a batch boundary of ", num_train_, " training windows in global batches of ", global_batch());
  position_ = p;
}

}  // namespace lat::data
