// The recipe's cross-key checks: the rules that relate two or more keys (divisibility, a key required by
// data.kind, held-out data that must differ from the training data). Recipe::validate() runs them after each
// key's own range check; every failure is Recipe::fail naming the key to blame.
#pragma once

#include "trainers/recipe.h"

namespace lat::recipe_detail {

void check_relations(const Recipe& recipe);

}  // namespace lat::recipe_detail
