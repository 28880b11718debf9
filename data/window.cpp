#include "data/window.h"

#include <vector>

#include "core/error.h"

namespace lat::data {

TokenWindows::TokenWindows(std::shared_ptr<const TokenDataset> dataset, int64_t seq_len)
    : dataset_(std::move(dataset)), seq_len_(seq_len) {
  LAT_CHECK(dataset_ != nullptr, "token windows: no dataset");
  if (seq_len_ < 1) LAT_THROW("token windows: seq_len must be at least 1, got ", seq_len_);
  if (dataset_->size() < seq_len_ + 1)
    LAT_THROW(dataset_->describe(), " has ", dataset_->size(), " tokens, too few for one window of seq_len ",
              seq_len_, " (needs ", seq_len_ + 1, ")");
  num_windows_ = (dataset_->size() - 1) / seq_len_;
}

void TokenWindows::window(int64_t w, int32_t* inputs, int32_t* targets) const {
  LAT_CHECK(w >= 0 && w < num_windows_, "window ", w, " outside [0, ", num_windows_, ") of ", describe());
  std::vector<int32_t> buffer(static_cast<size_t>(seq_len_ + 1));
  dataset_->read(w * seq_len_, seq_len_ + 1, buffer.data());
  for (int64_t t = 0; t < seq_len_; ++t) {
    inputs[t] = buffer[static_cast<size_t>(t)];
    targets[t] = buffer[static_cast<size_t>(t + 1)];
  }
}

WindowSlice::WindowSlice(std::shared_ptr<const WindowSource> source, int64_t first, int64_t count)
    : source_(std::move(source)), first_(first), count_(count) {
  LAT_CHECK(source_ != nullptr, "window slice: no source");
  if (first_ < 0 || count_ < 1 || first_ + count_ > source_->num_windows())
    LAT_THROW("window slice [", first_, ", ", first_ + count_, ") is empty or outside the ",
              source_->num_windows(), " windows of ", source_->describe());
}

void WindowSlice::window(int64_t w, int32_t* inputs, int32_t* targets) const {
  LAT_CHECK(w >= 0 && w < count_, "window ", w, " outside [0, ", count_, ") of ", describe());
  source_->window(first_ + w, inputs, targets);
}

std::string WindowSlice::describe() const {
  return "windows [" + std::to_string(first_) + ", " + std::to_string(first_ + count_) + ") of " +
         source_->describe();
}

}  // namespace lat::data
