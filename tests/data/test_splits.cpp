// Held-out splits in the data layer: slices of token streams and window sources, the held-out count, and a
// loader that validates on a source of its own.
#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#include "core/error.h"
#include "data/loader.h"
#include "data/mqar.h"
#include "support/temp_dir.h"

using namespace lat;
using namespace lat::data;
using lat::testing::error_of;

namespace {

// Tokens 0, 1, 2, ... (mod 256), so a token's value says where it came from.
std::shared_ptr<InMemoryTokens> counting_tokens(int64_t n, int offset = 0) {
  std::vector<uint16_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = static_cast<uint16_t>((i + offset) % 256);
  return std::make_shared<InMemoryTokens>(std::move(t), "counting");
}

std::vector<int32_t> row(const Tensor& t, int64_t r) {
  const int64_t T = t.shape()[1];
  const int32_t* p = t.data<int32_t>() + r * T;
  return {p, p + T};
}

}  // namespace

TEST_CASE("held_out_windows: round(fraction x W), at least 1 when the fraction is positive") {
  CHECK(held_out_windows(100, 0.05) == 5);
  CHECK(held_out_windows(10, 0.01) == 1);  // 0.1 rounds to 0, but a positive fraction holds out one
  CHECK(held_out_windows(7, 0.5) == 4);    // 3.5 rounds up
  CHECK(held_out_windows(1000, 0.0) == 0);
}

TEST_CASE("token and window slices read the slice of their parent, and refuse ranges outside it") {
  auto tokens = counting_tokens(100);
  TokenSlice slice(tokens, 40, 30);
  CHECK(slice.size() == 30);
  CHECK(slice.read(0, 3) == std::vector<int32_t>{40, 41, 42});
  CHECK(slice.read(27, 3) == std::vector<int32_t>{67, 68, 69});
  CHECK_THROWS_AS(slice.read(28, 3), Error);
  CHECK(error_of([&] { TokenSlice(tokens, 90, 11); }).find("outside counting of 100 tokens") !=
        std::string::npos);

  auto windows = std::make_shared<TokenWindows>(tokens, 8);  // 12 windows
  WindowSlice tail(windows, 9, 3);
  CHECK(tail.num_windows() == 3);
  CHECK(tail.seq_len() == 8);
  std::vector<int32_t> x(8), y(8);
  tail.window(2, x.data(), y.data());  // window 11 of the parent: tokens [88, 97)
  CHECK(x.front() == 88);
  CHECK(y.back() == 96);
  CHECK_THROWS_AS(tail.window(3, x.data(), y.data()), Error);
  CHECK_THROWS_AS(WindowSlice(windows, 10, 3), Error);
  CHECK_THROWS_AS(WindowSlice(windows, 0, 0), Error);
}

TEST_CASE("loader with a validation source: trains on every window, validates on the other source in order") {
  auto train = std::make_shared<TokenWindows>(counting_tokens(16 * 40 + 1), 16);      // 40 windows
  auto held = std::make_shared<TokenWindows>(counting_tokens(16 * 10 + 1, 100), 16);  // 10 windows
  Loader loader(train, {.batch_size = 4, .seed = 3, .shuffle = false}, held);
  CHECK(loader.num_train_windows() == 40);  // nothing held out of the training source
  CHECK(loader.position().num_val_windows == 0);
  CHECK(loader.num_val_windows() == 10);
  CHECK(loader.num_val_batches() == 2);
  // Unshuffled, one epoch reads every training window once; all of them start at a multiple of 16.
  std::vector<int32_t> firsts;
  for (int64_t s = 0; s < loader.steps_per_epoch(); ++s) {
    Batch b = loader.next();
    for (int64_t r = 0; r < 4; ++r) firsts.push_back(row(b.inputs, r)[0]);
  }
  std::vector<int32_t> expected(40);
  for (int i = 0; i < 40; ++i) expected[static_cast<size_t>(i)] = (16 * i) % 256;
  CHECK(firsts == expected);
  // Validation rows are the held-out source's windows 0..7 (token w*16 + 100 first), twice the same.
  for (int pass = 0; pass < 2; ++pass) {
    auto it = loader.validation();
    Batch b;
    int64_t w = 0;
    while (it.next(b))
      for (int64_t r = 0; r < 4; ++r, ++w) CHECK(row(b.inputs, r)[0] == (16 * w + 100) % 256);
    CHECK(w == 8);
  }
}

TEST_CASE("loader with a validation source: refuses val_fraction, another seq_len and too few windows") {
  auto train = std::make_shared<TokenWindows>(counting_tokens(16 * 40 + 1), 16);
  const LoaderConfig c{.batch_size = 4};
  auto other_len = std::make_shared<TokenWindows>(counting_tokens(200), 8);
  CHECK(error_of([&] { Loader(train, c, other_len); }).find("has seq_len 8, the training source 16") !=
        std::string::npos);
  auto small = std::make_shared<TokenWindows>(counting_tokens(16 * 3 + 1), 16);
  CHECK(error_of([&] {
          Loader(train, c, small);
        }).find("has 3 windows of seq_len 16, fewer than one global batch of 4") != std::string::npos);
  LoaderConfig fraction = c;
  fraction.val_fraction = 0.1;
  auto held = std::make_shared<TokenWindows>(counting_tokens(16 * 10 + 1), 16);
  CHECK(error_of([&] { Loader(train, fraction, held); }).find("val_fraction 0.1 holds out windows") !=
        std::string::npos);
}

TEST_CASE("mqar: a slice past num_examples generates sequences of indices never offered to the loader") {
  MqarConfig c;
  c.vocab_size = 64;
  c.seq_len = 32;
  c.num_kv_pairs = 4;
  c.num_examples = 50;
  c.seed = 9;
  MqarConfig wide = c;
  wide.num_examples = 80;
  WindowSlice test(std::make_shared<MqarTask>(wide), 50, 30);
  const MqarTask task(c);
  std::vector<int32_t> x(32), y(32), gx(32), gy(32);
  for (int64_t w = 0; w < 30; ++w) {
    test.window(w, x.data(), y.data());
    task.generate(static_cast<uint64_t>(50 + w), gx.data(), gy.data());
    CHECK(x == gx);
    CHECK(y == gy);
  }
}
