#include <doctest/doctest.h>

#include <cstring>
#include <numeric>

#include "core/error.h"
#include "data/shards.h"
#include "support/temp_dir.h"

using namespace lat;
using namespace lat::data;
using lat::testing::error_of;
using lat::testing::TempDir;

namespace {

// A shard's bytes with a chosen header and payload, for corrupt-file cases.
std::string shard_bytes(int32_t magic, int32_t version, int32_t count, size_t payload_tokens) {
  std::string bytes(static_cast<size_t>(kShardHeaderBytes) + 2 * payload_tokens, '\0');
  int32_t header[3] = {magic, version, count};
  std::memcpy(bytes.data(), header, sizeof(header));
  for (size_t i = 0; i < payload_tokens; ++i) bytes[static_cast<size_t>(kShardHeaderBytes) + 2 * i] = static_cast<char>(i);
  return bytes;
}

void check_error(const std::string& path, const std::string& what) {
  const std::string msg = error_of([&] { validate_shard(path); });
  INFO(msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find(what) != std::string::npos);
  CHECK_THROWS_AS(ShardDataset{path}, Error);
}

}  // namespace

TEST_CASE("token shards: write/read round trip, folders, globs, reads across shard boundaries") {
  TempDir dir("shards");
  std::vector<int32_t> a(1000), b(7), c(0);
  std::iota(a.begin(), a.end(), 0);
  for (size_t i = 0; i < b.size(); ++i) b[i] = 65535 - static_cast<int32_t>(i);
  write_shard(dir.file("s_000.bin"), a);
  write_shard(dir.file("s_002.bin"), b);
  write_shard(dir.file("s_001.bin"), c);  // an empty shard in the middle is allowed
  dir.write("notes.txt", "not a shard");

  CHECK(validate_shard(dir.file("s_000.bin")) == 1000);
  CHECK(std::filesystem::file_size(dir.file("s_000.bin")) == 1024 + 2000);
  const auto read_a = read_shard(dir.file("s_000.bin"));
  CHECK(std::vector<int32_t>(read_a.begin(), read_a.end()) == a);

  for (const std::string& pattern : {dir.str(), dir.file("s_*.bin")}) {
    ShardDataset ds(pattern);
    REQUIRE(ds.files().size() == 3);
    CHECK(ds.files()[0] == dir.file("s_000.bin"));
    CHECK(ds.size() == 1007);
    std::vector<int32_t> all = a;
    all.insert(all.end(), b.begin(), b.end());
    CHECK(ds.read(0, 1007) == all);
    CHECK(ds.read(995, 8) == std::vector<int32_t>(all.begin() + 995, all.begin() + 1003));
    CHECK(ds.max_token_plus_one() == 65536);
    CHECK_THROWS_AS(ds.read(1000, 8), Error);
  }
  ShardDataset single(dir.file("s_002.bin"));
  CHECK(single.size() == 7);

  std::string msg = error_of([&] { ShardDataset{dir.file("x_*.bin")}; });
  CHECK(msg.find("matches no files") != std::string::npos);
  msg = error_of([&] { write_shard(dir.file("bad.bin"), std::vector<int32_t>{1, 70000}); });
  CHECK(msg.find("70000") != std::string::npos);
  CHECK(!std::filesystem::exists(dir.file("bad.bin")));
  msg = error_of([&] { write_shard(dir.file("no/such/dir/x.bin"), a); });
  CHECK(msg.find("cannot open") != std::string::npos);
}

TEST_CASE("token shards: every corrupt file is refused with its name and what is wrong") {
  TempDir dir("bad_shards");
  check_error(dir.file("missing.bin"), "does not exist");
  check_error(dir.write("short.bin", std::string(100, '\0')), "truncated");
  check_error(dir.write("magic.bin", shard_bytes(20240521, 1, 4, 4)), "wrong magic 20240521");
  check_error(dir.write("version.bin", shard_bytes(kShardMagic, 2, 4, 4)), "unsupported version 2");
  check_error(dir.write("negative.bin", shard_bytes(kShardMagic, 1, -3, 0)), "negative token count");
  check_error(dir.write("cut.bin", shard_bytes(kShardMagic, 1, 10, 9)), "truncated");
  check_error(dir.write("long.bin", shard_bytes(kShardMagic, 1, 4, 5)), "unexpected bytes");
  // A glob with one bad shard among good ones fails, naming the bad one.
  write_shard(dir.file("g_0.bin"), std::vector<int32_t>{1, 2, 3});
  const std::string bad = dir.write("g_1.bin", shard_bytes(kShardMagic, 1, 10, 3));
  const std::string msg = error_of([&] { ShardDataset{dir.file("g_*.bin")}; });
  CHECK(msg.find(bad) != std::string::npos);
  // A shard set with no tokens at all is refused.
  write_shard(dir.file("e_0.bin"), std::vector<int32_t>{});
  CHECK(error_of([&] { ShardDataset{dir.file("e_*.bin")}; }).find("no tokens") != std::string::npos);
}
