// A tiny corpus and recipe shared by the end-to-end training tests (single process and mpirun): a 2-layer
// elu1 linear-attention model that trains 20 steps on the CPU in well under a second.
#pragma once

#include <cstdint>
#include <string>

#include "trainers/communicator.h"
#include "trainers/recipe.h"
#include "trainers/trainer.h"

namespace lat::testing {

// ~4 KB of English: enough windows at seq_len 32 for training and a validation split.
inline std::string tiny_corpus() {
  std::string text;
  const char* lines[] = {"In the beginning God created the heaven and the earth.\n",
                         "And the earth was without form, and void; and darkness was upon the face of the deep.\n",
                         "And God said, Let there be light: and there was light.\n",
                         "And God saw the light, that it was good: and God divided the light from the darkness.\n"};
  for (int i = 0; i < 60; ++i) text += lines[i % 4];
  return text;
}

// data.path is left at its default: callers set it (e.g. --set data.path=...). batch_size is per rank.
inline const char* kTinyRecipe = R"([model]
d_model = 32
layers = 2
mlp_hidden = 64
[attention]
kind = "linear"
feature_map = "elu1"
heads = 2
block = 16
[optimizer]
lr = 3e-3
[schedule]
kind = "cosine"
warmup_steps = 5
[data]
kind = "text"
val_fraction = 0.1
[training]
steps = 20
batch_size = 4
seq_len = 32
device = "cpu"
seed = 7
eval_interval = 0
[checkpoint]
interval = 10
keep_last = 0
[logging]
interval = 1
level = "warn"
)";

// One Trainer run in this process, as lat-train runs it: into `run_dir`, from `resume` ("", "auto" or a
// checkpoint), stopping after `stop_after` steps when > 0.
inline trainers::TrainResult train(const Recipe& recipe, const std::string& run_dir, const std::string& resume = "",
                                   int64_t stop_after = 0) {
  auto comm = trainers::make_communicator();
  trainers::TrainOptions options;
  options.run_dir = run_dir;
  options.resume = resume;
  options.stop_after = stop_after;
  trainers::Trainer trainer(recipe, options, *comm);
  return trainer.run();
}

}  // namespace lat::testing
