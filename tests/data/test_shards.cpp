#include <doctest/doctest.h>

#include <cstring>
#include <numeric>

#include "core/error.h"
#include "data/shards.h"
#include "support/temp_dir.h"
#include "support/tool_files.h"

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

TEST_CASE("token shards: uint32 shards (llm.c's magic 20240801, version 7) and the document index") {
  TempDir dir("shards32");
  const std::vector<int32_t> a{5, 128000, 7, 2147483646, 0}, b{1, 2, 3};
  const std::vector<int64_t> a_docs{0, 3}, b_docs{1};
  write_shard(dir.file("w_000.bin"), a, ShardFormat::U32, a_docs, true);
  write_shard(dir.file("w_001.bin"), b, ShardFormat::U16, b_docs, true);  // formats may be mixed
  write_shard(dir.file("w_001b.bin"), b, ShardFormat::U16, {}, true);     // inside one document: indexed, no entries
  const ShardInfo info = inspect_shard(dir.file("w_000.bin"));
  CHECK(info.tokens == 5);
  CHECK(info.token_bytes == 4);
  CHECK(info.documents == 2);
  CHECK(info.indexed);
  // Header, 5 uint32 tokens, 2 int32 index entries; the magic and version are llm.c's for uint32 tokens.
  const std::string bytes = lat::testing::slurp(dir.file("w_000.bin"));
  REQUIRE(bytes.size() == 1024 + 20 + 8);
  int32_t header[5];
  std::memcpy(header, bytes.data(), sizeof header);
  CHECK(header[0] == 20240801);
  CHECK(header[1] == 7);
  CHECK(header[2] == 5);
  CHECK(header[3] == 2);
  CHECK(header[4] == 1);
  uint32_t second;
  std::memcpy(&second, bytes.data() + 1024 + 4, 4);
  CHECK(second == 128000u);
  const auto back = read_shard(dir.file("w_000.bin"));
  CHECK(std::vector<int32_t>(back.begin(), back.end()) == a);
  CHECK(read_shard_documents(dir.file("w_000.bin")) == a_docs);

  ShardDataset ds(dir.file("w_*.bin"));
  CHECK(ds.read(0, 11) == std::vector<int32_t>{5, 128000, 7, 2147483646, 0, 1, 2, 3, 1, 2, 3});
  CHECK(ds.document_starts() == std::vector<int64_t>{0, 3, 6});
  CHECK(ds.max_token_plus_one() == 2147483647);
  // A shard without an index (llm.c's) among indexed ones: no document starts at all.
  write_shard(dir.file("w_002.bin"), b);
  CHECK(ShardDataset(dir.file("w_*.bin")).document_starts().empty());

  CHECK(error_of([&] { write_shard(dir.file("x.bin"), a, ShardFormat::U32, std::vector<int64_t>{3, 1}, true); })
            .find("out of order") != std::string::npos);
  CHECK(error_of([&] { write_shard(dir.file("x.bin"), a, ShardFormat::U16); }).find("write uint32 shards") !=
        std::string::npos);
  CHECK(!std::filesystem::exists(dir.file("x.bin")));
}

TEST_CASE("token shards: a damaged document index or uint32 header is refused naming the file") {
  TempDir dir("bad_shards32");
  auto shard = [&](const std::string& name, int32_t magic, int32_t version, int32_t count, int32_t docs,
                   std::vector<int32_t> index, int64_t extra = 0) {
    std::string bytes(static_cast<size_t>(kShardHeaderBytes) + 4 * static_cast<size_t>(count), '\0');
    int32_t header[5] = {magic, version, count, docs, 1};
    std::memcpy(bytes.data(), header, sizeof header);
    bytes.append(reinterpret_cast<const char*>(index.data()), 4 * index.size());
    bytes += std::string(static_cast<size_t>(extra), '\0');
    return dir.write(name, bytes);
  };
  check_error(shard("v.bin", kShardMagicU32, 1, 4, 0, {}), "unsupported version 1");
  check_error(shard("order.bin", kShardMagicU32, 7, 4, 2, {2, 1}), "document index entry 1 is 1");
  check_error(shard("outside.bin", kShardMagicU32, 7, 4, 1, {4}), "document index entry 0 is 4");
  check_error(shard("many.bin", kShardMagicU32, 7, 4, 9, {}), "declares 9 documents");
  check_error(shard("cut.bin", kShardMagicU32, 7, 4, 2, {0}), "truncated");
  check_error(shard("long.bin", kShardMagicU32, 7, 4, 1, {0}, 4), "unexpected bytes");
  std::string unflagged = lat::testing::slurp(shard("flag.bin", kShardMagicU32, 7, 4, 1, {0}));
  unflagged[16] = 0;  // header[4] = 0 with one document declared
  check_error(dir.write("flag.bin", unflagged), "but no document index");
  unflagged[16] = 2;
  check_error(dir.write("flag.bin", unflagged), "document index flag");
  // Every id of a uint32 shard must fit lat's int32 ids.
  const std::string big = shard("big.bin", kShardMagicU32, 7, 1, 0, {});
  std::string bytes = lat::testing::slurp(big);
  const uint32_t huge = 4000000000u;
  std::memcpy(bytes.data() + 1024, &huge, 4);
  dir.write("big.bin", bytes);
  CHECK(error_of([&] { ShardDataset(big).max_token_plus_one(); }).find("4000000000") != std::string::npos);
}
