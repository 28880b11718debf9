// The parts of a Recipe that relate keys to each other (docs/recipes.md): the values of "auto" keys
// (Recipe::resolved_*(), defined in recipe_resolve.cpp) and the cross-key checks Recipe::validate() runs
// after each key's own range check. Internal to trainers/: the public interface is trainers/recipe.h.
#pragma once

#include <string>
#include <string_view>

#include "trainers/recipe.h"

namespace lat {

// The value an "auto" key resolves to in `r`, as TOML text ("64"), or "" when `key` is not an auto key or is
// set explicitly. to_toml() writes it into the key's comment, so --print-recipe shows what auto means.
std::string resolved_value_text(const Recipe& r, std::string_view key);

// Checks between keys (divisibility, context lengths, what a data kind requires); throws via Recipe::fail.
void validate_cross_keys(const Recipe& r);

}  // namespace lat
