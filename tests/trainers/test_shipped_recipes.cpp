// Every recipe shipped in recipes/ parses and validates (so a typo in a shipped file fails CI, not a user).
#include <doctest/doctest.h>

#include <filesystem>

#include "trainers/recipe.h"

TEST_CASE("every shipped recipe parses and validates") {
  namespace fs = std::filesystem;
  int count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(LAT_SOURCE_DIR) / "recipes")) {
    if (entry.path().extension() != ".toml" || entry.path().filename() == "base.toml") continue;
    CAPTURE(entry.path().string());
    CHECK_NOTHROW(lat::Recipe::from_file(entry.path().string()));
    ++count;
  }
  MESSAGE(count << " recipes checked");
  CHECK(count >= 11);
}
