// Every recipe shipped in recipes/ parses and validates (so a typo in a shipped file fails CI, not a user).
#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <string>

#include "trainers/recipe.h"

TEST_CASE("every shipped recipe parses and validates") {
  namespace fs = std::filesystem;
  int count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(LAT_SOURCE_DIR) / "recipes")) {
    // recipes/study/ holds lat-study study files (another format, tested in tests/study/), not training recipes.
    if (entry.path().parent_path().filename() == "study") continue;
    if (entry.path().extension() != ".toml" || entry.path().filename() == "base.toml") continue;
    if (entry.path().parent_path().filename() == "study") continue;  // study files (tests/study), not recipes
    CAPTURE(entry.path().string());
    CHECK_NOTHROW(lat::Recipe::from_file(entry.path().string()));
    ++count;
  }
  MESSAGE(count << " recipes checked");
  CHECK(count >= 21);
}

TEST_CASE("the KJV and MQAR comparisons ship the same attention variants") {
  namespace fs = std::filesystem;
  auto variants = [](const char* folder) {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(fs::path(LAT_SOURCE_DIR) / "recipes" / folder))
      if (entry.path().extension() == ".toml" && entry.path().filename() != "base.toml")
        names.insert(entry.path().stem().string());
    return names;
  };
  const std::set<std::string> kjv = variants("kjv");
  CHECK(kjv == variants("mqar"));
  for (const char* name : {"softmax", "elu1", "cosine", "random", "lightning", "lightning_nogate", "tnl"})
    CHECK_MESSAGE(kjv.count(name) == 1, name);
}
