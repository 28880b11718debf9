// What the fuzzers (tests/fuzz, tools/fuzz.sh) found, each kept as a test; the inputs also seed the corpora.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "support/temp_dir.h"
#include "trainers/checkpoint.h"
#include "trainers/recipe.h"
#include "trainers/recipe_text.h"

using lat::testing::error_of;

namespace {

std::string corpus_file(const std::string& name) {
  std::ifstream in(std::string(LAT_SOURCE_DIR) + "/tests/fuzz/corpus/" + name, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("fuzz finding (fuzz_recipe): a --set string that is not UTF-8 is refused, not written into the run") {
  // The input as found: a recipe, then NUL-separated overrides; data.path's value carries bytes 0x90 0x8b 0xff.
  const std::string input = corpus_file("recipe/finding-non-utf8-set");
  const size_t nul = input.find('\0');
  std::vector<std::string> overrides;
  for (size_t at = nul + 1; at < input.size();) {
    const size_t next = std::min(input.find('\0', at), input.size());
    overrides.push_back(input.substr(at, next - at));
    at = next + 1;
  }
  const std::string e = error_of([&] { (void)lat::Recipe::from_string(input.substr(0, nul), "x.toml", overrides); });
  CHECK(e.find("data.path: the value is not valid UTF-8") != std::string::npos);
  // Well-formed UTF-8 is kept and written back as it came.
  const lat::Recipe ok = lat::Recipe::from_string("", "x.toml", {"data.path=data/Genèse ✓.txt"});
  CHECK(lat::Recipe::from_string(ok.to_toml(), "back.toml") == ok);
  using lat::recipe_text::valid_utf8;
  CHECK(valid_utf8("plain"));
  CHECK(valid_utf8("\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80"));  // é ✓ 😀
  CHECK_FALSE(valid_utf8("\xc0\xaf"));                        // overlong '/'
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));                    // a UTF-16 surrogate
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));                // beyond U+10FFFF
  CHECK_FALSE(valid_utf8("\xe2\x9c"));                        // cut short
}

TEST_CASE("fuzz finding (fuzz_checkpoint): a dataset declaring 4 GiB in an 89 KB file is refused with one line") {
  // Found when the reader allocated the declared shape before HDF5 noticed the file was too short (libFuzzer's
  // malloc limit flagged it). The sealed format (docs/checkpoints.md) now refuses the file at its integrity seal,
  // before any dataset is read; either way it must end in one line naming the file.
  const std::string path = std::string(LAT_SOURCE_DIR) + "/tests/fuzz/corpus/checkpoint/finding-declared-4gib.h5";
  const std::string e = error_of([&] { (void)lat::read_checkpoint(path); });
  CAPTURE(e);
  CHECK(e.find("finding-declared-4gib.h5") != std::string::npos);
  CHECK(e.find('\n') == std::string::npos);
}
