// libFuzzer harness: the recipe parser. The input is a TOML text, optionally followed by a NUL byte and
// NUL-separated --set overrides. Property checked beyond "no crash": a recipe that parses writes a to_toml()
// that parses back to the same recipe.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "trainers/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view text = input.substr(0, nul);
  std::vector<std::string> overrides;
  if (nul != std::string_view::npos) {
    std::string_view rest = input.substr(nul + 1);
    while (!rest.empty()) {
      const size_t next = rest.find('\0');
      overrides.emplace_back(rest.substr(0, next));
      rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    }
  }
  lat::Recipe recipe;
  try {
    // A name without folders: includes resolve against the working directory, where nothing is to be found.
    recipe = lat::Recipe::from_string(text, "fuzz.toml", overrides);
  } catch (const lat::Error&) {
    return 0;
  }
  const std::string written = recipe.to_toml();
  const lat::Recipe back = lat::Recipe::from_string(written, "written.toml");
  if (!(back == recipe)) std::abort();  // the round trip lost or changed a value
  return 0;
}
