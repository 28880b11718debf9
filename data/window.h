// WindowSource: what the loader draws rows from. A source has a fixed number of windows; window w is a pair
// of int32 rows (inputs[T], targets[T]) that depends only on w. Token datasets give next-token windows;
// synthetic tasks (data/mqar.h) generate a sequence per window index.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "data/dataset.h"

namespace lat::data {

// Targets equal to this are ignored by the loss and by accuracy.
constexpr int32_t kIgnoreIndex = -1;

class WindowSource {
 public:
  virtual ~WindowSource() = default;
  virtual int64_t num_windows() const = 0;
  virtual int64_t seq_len() const = 0;
  // Fills inputs[0, T) and targets[0, T) for window w in [0, num_windows()).
  virtual void window(int64_t w, int32_t* inputs, int32_t* targets) const = 0;
  virtual std::string describe() const = 0;
};

// Non-overlapping next-token windows over a token stream: window w reads tokens [w T, w T + T + 1);
// inputs are the first T, targets the last T. There are (size - 1) / T windows; a stream shorter than
// T + 1 tokens throws lat::Error naming the dataset, its size and T.
class TokenWindows : public WindowSource {
 public:
  TokenWindows(std::shared_ptr<const TokenDataset> dataset, int64_t seq_len);
  int64_t num_windows() const override { return num_windows_; }
  int64_t seq_len() const override { return seq_len_; }
  void window(int64_t w, int32_t* inputs, int32_t* targets) const override;
  std::string describe() const override { return dataset_->describe(); }
  const TokenDataset& dataset() const { return *dataset_; }

 private:
  std::shared_ptr<const TokenDataset> dataset_;
  int64_t seq_len_;
  int64_t num_windows_;
};

// Windows [first, first + count) of another source, renumbered from 0 (a held-out split of a source whose
// windows are a pure function of their index, such as MQAR's disjoint test range). Throws lat::Error when the
// range is empty or outside the source.
class WindowSlice : public WindowSource {
 public:
  WindowSlice(std::shared_ptr<const WindowSource> source, int64_t first, int64_t count);
  int64_t num_windows() const override { return count_; }
  int64_t seq_len() const override { return source_->seq_len(); }
  void window(int64_t w, int32_t* inputs, int32_t* targets) const override;
  std::string describe() const override;

 private:
  std::shared_ptr<const WindowSource> source_;
  int64_t first_, count_;
};

}  // namespace lat::data
