// Checks shared by the checkpoint writer and reader (internal to trainers/checkpoint_*.cpp). Each throws a
// one-line lat::Error "checkpoint '<path>': ..." naming the offending tensor or value.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "trainers/checkpoint.h"

namespace lat::checkpoint_checks {

// "layers.3.mlp.w_up" -> "layers/3/mlp/w_up"; refuses names that would not map back.
std::string tree_path(const std::string& file, const std::string& name);

// The AdamW moments `which` ("m" or "v") hold exactly the parameters of c.model, shape for shape (an empty
// map: no optimizer state).
void check_moments(const std::string& file, const Checkpoint& c, const std::map<std::string, Tensor>& moments,
                   const char* which);

// Every value of every tensor in `tensors` is finite (and >= 0 when `non_negative`); `what` names the tree in
// the message ("parameter", "optimizer state v of").
void check_finite(const std::string& file, const std::map<std::string, Tensor>& tensors, const char* what,
                  bool non_negative = false);

// Flattens loader rows (every rank the same number of values) and returns their dims [ranks, k].
std::vector<unsigned long long> loader_dims(const std::string& file,
                                            const std::vector<std::vector<int64_t>>& rows,
                                            std::vector<int64_t>& flat);

}  // namespace lat::checkpoint_checks
