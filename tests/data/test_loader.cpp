#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <set>

#include "core/error.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/mqar.h"
#include "data/rng.h"
#include "support/temp_dir.h"

using namespace lat;
using namespace lat::data;

namespace {

// Window w: inputs[t] = w * 1000 + t, targets = inputs + 1: each row says which window it came from.
struct IndexSource : WindowSource {
  int64_t n, T;
  IndexSource(int64_t n_, int64_t T_) : n(n_), T(T_) {}
  int64_t num_windows() const override { return n; }
  int64_t seq_len() const override { return T; }
  void window(int64_t w, int32_t* x, int32_t* y) const override {
    REQUIRE(w >= 0);
    REQUIRE(w < n);
    for (int64_t t = 0; t < T; ++t) {
      x[t] = static_cast<int32_t>(w * 1000 + t);
      y[t] = x[t] + 1;
    }
  }
  std::string describe() const override { return "index source"; }
};

std::vector<int64_t> windows_of(const Batch& b) {
  std::vector<int64_t> w;
  const auto x = b.inputs.to_vector<int32_t>();
  const int64_t T = b.inputs.size(1);
  for (int64_t r = 0; r < b.inputs.size(0); ++r) w.push_back(x[static_cast<size_t>(r * T)] / 1000);
  return w;
}

bool same(const Batch& a, const Batch& b) {
  return a.inputs.to_vector<int32_t>() == b.inputs.to_vector<int32_t>() &&
         a.targets.to_vector<int32_t>() == b.targets.to_vector<int32_t>();
}

}  // namespace

TEST_CASE("permutation is a bijection for awkward sizes") {
  for (int64_t n : {1, 2, 3, 5, 17, 64, 1000, 4097}) {
    Permutation p(n, 42, 3);
    std::vector<bool> seen(static_cast<size_t>(n), false);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = p(i);
      REQUIRE(j >= 0);
      REQUIRE(j < n);
      CHECK(!seen[static_cast<size_t>(j)]);
      seen[static_cast<size_t>(j)] = true;
    }
  }
  Permutation a(1000, 42, 0), b(1000, 42, 1);
  int moved = 0;
  for (int64_t i = 0; i < 1000; ++i) moved += a(i) != b(i);
  CHECK(moved > 900);
}

TEST_CASE("loader: batches are deterministic, shuffled per epoch, and cover each epoch without repeats") {
  auto src = std::make_shared<IndexSource>(103, 4);
  LoaderConfig c;
  c.batch_size = 5;
  c.seed = 9;
  Loader a(src, c), b(src, c);
  CHECK(a.steps_per_epoch() == 20);
  std::set<int64_t> epoch0, epoch1;
  std::vector<int64_t> order0, order1;
  for (int s = 0; s < 40; ++s) {
    const Batch x = a.next(), y = b.next();
    CHECK(x.inputs.shape() == Shape{5, 4});
    CHECK(x.inputs.dtype() == DType::I32);
    CHECK(x.inputs.device().is_cpu());
    CHECK(same(x, y));
    // next-token targets
    const auto xi = x.inputs.to_vector<int32_t>(), yi = x.targets.to_vector<int32_t>();
    for (size_t i = 0; i < xi.size(); ++i) CHECK(yi[i] == xi[i] + 1);
    for (int64_t w : windows_of(x)) {
      (s < 20 ? epoch0 : epoch1).insert(w);
      (s < 20 ? order0 : order1).push_back(w);
    }
  }
  CHECK(epoch0.size() == 100);  // 100 distinct of 103 windows: no repeats within an epoch
  CHECK(epoch1.size() == 100);
  CHECK(order0 != order1);      // reshuffled per epoch
  CHECK(a.position().epoch == 2);
  CHECK(a.position().batches == 40);
  std::vector<int64_t> sorted = order0;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted != order0);  // actually shuffled

  c.seed = 10;
  Loader other(src, c);
  CHECK(!same(other.next(), Loader(src, LoaderConfig{5, 0, 1, 9, true, 0.0}).next()));

  c.shuffle = false;
  Loader plain(src, c);
  CHECK(windows_of(plain.next()) == std::vector<int64_t>{0, 1, 2, 3, 4});
}

TEST_CASE("loader: resuming from a saved position equals an uninterrupted run") {
  auto src = std::make_shared<IndexSource>(64, 3);
  LoaderConfig c;
  c.batch_size = 4;
  c.seed = 5;
  c.val_fraction = 0.25;
  Loader straight(src, c);
  std::vector<Batch> expected;
  for (int s = 0; s < 30; ++s) expected.push_back(straight.next());  // crosses epochs (12 steps each)

  for (int cut : {0, 1, 11, 12, 13, 25}) {
    Loader first(src, c);
    for (int s = 0; s < cut; ++s) CHECK(same(first.next(), expected[static_cast<size_t>(s)]));
    const LoaderPosition saved = first.position();  // a POD: copy it through bytes like a checkpoint would
    LoaderPosition copy;
    std::memcpy(&copy, &saved, sizeof(copy));
    Loader resumed(src, c);
    resumed.restore(copy);
    CHECK(LoaderPosition::from_array(saved.to_array()).to_array() == saved.to_array());
    for (int s = cut; s < 30; ++s) CHECK(same(resumed.next(), expected[static_cast<size_t>(s)]));
    CHECK(resumed.position().batches == 30);
  }

  c.seed = ~uint64_t{0} - 5;  // seeds above 2^63 survive the int64 round trip
  Loader big_seed(src, c);
  big_seed.next();
  const LoaderPosition round = LoaderPosition::from_array(big_seed.position().to_array());
  CHECK(round.seed == c.seed);
  Loader big_seed_resumed(src, c);
  big_seed_resumed.restore(round);
  c.seed = 5;

  // A position from a different setup is refused, naming the field.
  LoaderPosition p = straight.position();
  LoaderConfig other = c;
  other.batch_size = 2;
  Loader small(src, other);
  CHECK(lat::testing::error_of([&] { small.restore(p); }).find("global_batch") != std::string::npos);
  other = c;
  other.seed = 6;
  Loader reseeded(src, other);
  CHECK(lat::testing::error_of([&] { reseeded.restore(p); }).find("seed") != std::string::npos);
  Loader fresh(src, c);
  p.index = 3;
  CHECK_THROWS_AS(fresh.restore(p), Error);
}

TEST_CASE("loader: 2 ranks x B read exactly the rows of 1 rank x 2B, split by rank") {
  auto src = std::make_shared<IndexSource>(257, 8);
  for (int world : {2, 3}) {
    LoaderConfig global;
    global.batch_size = 3 * world;
    global.seed = 77;
    global.val_fraction = 0.1;
    Loader one(src, global);
    std::vector<Loader> ranks;
    for (int r = 0; r < world; ++r) {
      LoaderConfig c = global;
      c.batch_size = 3;
      c.rank = r;
      c.world_size = world;
      ranks.emplace_back(src, c);
    }
    CHECK(ranks[0].steps_per_epoch() == one.steps_per_epoch());
    for (int s = 0; s < 2 * one.steps_per_epoch() + 3; ++s) {
      const Batch g = one.next();
      for (int r = 0; r < world; ++r) {
        const Batch b = ranks[static_cast<size_t>(r)].next();
        CHECK(b.inputs.shape() == Shape{3, 8});
        const Tensor rows_x = g.inputs.slice(0, 3 * r, 3 * r + 3).contiguous();
        const Tensor rows_y = g.targets.slice(0, 3 * r, 3 * r + 3).contiguous();
        CHECK(b.inputs.to_vector<int32_t>() == rows_x.to_vector<int32_t>());
        CHECK(b.targets.to_vector<int32_t>() == rows_y.to_vector<int32_t>());
      }
    }
    // Validation shards the same way.
    ValidationIterator gv = one.validation();
    std::vector<ValidationIterator> rv;
    for (auto& l : ranks) rv.push_back(l.validation());
    Batch g, b;
    int batches = 0;
    while (gv.next(g)) {
      ++batches;
      for (int r = 0; r < world; ++r) {
        REQUIRE(rv[static_cast<size_t>(r)].next(b));
        CHECK(b.inputs.to_vector<int32_t>() == g.inputs.slice(0, 3 * r, 3 * r + 3).contiguous().to_vector<int32_t>());
      }
    }
    CHECK(batches == one.num_val_batches());
    CHECK(batches > 0);
    // A position saved by one rank resumes another world size with the same global batch.
    Loader resumed(src, global);
    resumed.restore(ranks[1].position());
    CHECK(windows_of(resumed.next()) == windows_of(one.next()));
  }
}

TEST_CASE("loader: validation windows are never training windows and always start from the beginning") {
  auto src = std::make_shared<IndexSource>(200, 2);
  LoaderConfig c;
  c.batch_size = 4;
  c.seed = 3;
  c.val_fraction = 0.1;
  Loader loader(src, c);
  CHECK(loader.num_val_windows() == 20);
  CHECK(loader.num_train_windows() == 180);
  std::set<int64_t> train, val;
  for (int s = 0; s < 3 * loader.steps_per_epoch(); ++s)
    for (int64_t w : windows_of(loader.next())) train.insert(w);
  CHECK(train.size() == 180);
  std::vector<int64_t> first_pass;
  auto it = loader.validation();
  CHECK(it.num_batches() == 5);
  Batch b;
  while (it.next(b))
    for (int64_t w : windows_of(b)) {
      val.insert(w);
      first_pass.push_back(w);
    }
  CHECK(val.size() == 20);
  for (int64_t w : val) CHECK(train.count(w) == 0);
  loader.next();
  std::vector<int64_t> second_pass;
  auto again = loader.validation(2);
  CHECK(again.num_batches() == 2);
  while (again.next(b))
    for (int64_t w : windows_of(b)) second_pass.push_back(w);
  CHECK(second_pass == std::vector<int64_t>(first_pass.begin(), first_pass.begin() + 8));
}

TEST_CASE("loader: text windows give next-token targets, MQAR windows keep MQAR targets, size errors") {
  lat::testing::TempDir dir("loader_text");
  std::string text;
  for (int i = 0; i < 50; ++i) text += "line " + std::to_string(i) + "\n";
  auto tokens = std::make_shared<InMemoryTokens>(load_text_dataset(dir.write("t.txt", text)));
  auto windows = std::make_shared<TokenWindows>(tokens, 16);
  CHECK(windows->num_windows() == (tokens->size() - 1) / 16);
  LoaderConfig c;
  c.batch_size = 2;
  c.shuffle = false;
  Loader loader(windows, c);
  const Batch b = loader.next();
  const auto x = b.inputs.to_vector<int32_t>(), y = b.targets.to_vector<int32_t>();
  const auto all = tokens->read(0, 33);
  for (size_t i = 0; i < 32; ++i) {
    CHECK(x[i] == all[i]);
    CHECK(y[i] == all[i + 1]);
  }

  MqarConfig m;
  m.vocab_size = 128;
  m.seq_len = 64;
  m.num_kv_pairs = 4;
  m.num_examples = 40;
  auto task = std::make_shared<MqarTask>(m);
  c.shuffle = true;
  c.val_fraction = 0.2;
  Loader mq(task, c);
  const Batch mb = mq.next();
  const auto ty = mb.targets.to_vector<int32_t>();
  CHECK(std::count_if(ty.begin(), ty.end(), [](int32_t v) { return v != kIgnoreIndex; }) == 2 * 4);

  auto tiny = std::make_shared<InMemoryTokens>(std::vector<uint16_t>{1, 2, 3}, "tiny");
  CHECK(lat::testing::error_of([&] { TokenWindows(tiny, 8); }).find("too few") != std::string::npos);
  c.batch_size = 100;
  CHECK(lat::testing::error_of([&] { Loader(task, c); }).find("fewer than one global batch") != std::string::npos);
  c.batch_size = 2;
  c.rank = 2;
  c.world_size = 2;
  CHECK(lat::testing::error_of([&] { Loader(task, c); }).find("rank 2") != std::string::npos);
}
