// libFuzzer harness: the llm.c token-shard reader (data/shards.h) on arbitrary bytes written to a file.
// Either the shard is refused with a lat::Error or every token it reports can be read and is below its
// vocabulary.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/shards.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/lat_fuzz_shard_" + std::to_string(::getpid()) + ".bin";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    lat::data::ShardDataset shards(path);
    const int64_t n = shards.size();
    if (n < 0) std::abort();
    std::vector<int32_t> tokens(static_cast<size_t>(std::min<int64_t>(n, 4096)));
    shards.read(0, static_cast<int64_t>(tokens.size()), tokens.data());
    const int64_t vocab = shards.max_token_plus_one();
    for (int32_t t : tokens)
      if (t < 0 || t >= vocab) std::abort();
  } catch (const lat::Error&) {
  }
  return 0;
}
