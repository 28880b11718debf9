// From a validated Recipe to the objects a run needs: the data source, the model configuration, the
// optimizer and schedule settings. One place maps recipe keys to the lower layers' own config structs.
#pragma once

#include <memory>

#include "autograd/nn/language_model.h"
#include "data/window.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "trainers/recipe.h"

namespace lat::trainers {

// The training/validation windows described by [data] at [training] seq_len. Missing or bad data files throw
// lat::Error naming the recipe key and file.
std::shared_ptr<const data::WindowSource> make_window_source(const Recipe& recipe);
// Vocabulary size: model.vocab_size, or the data's (258 for bytes, data.vocab for MQAR, shards' max id + 1).
int64_t resolved_vocab_size(const Recipe& recipe, const data::WindowSource& source);

autograd::nn::LanguageModelConfig model_config(const Recipe& recipe, int64_t vocab_size);
optim::AdamWConfig adamw_config(const Recipe& recipe);
optim::ScheduleConfig schedule_config(const Recipe& recipe);

// training.device resolved: auto -> cuda when this build has CUDA and a GPU is visible, else cpu.
Device resolve_device(const Recipe& recipe);
// training.precision on `device`: the model's compute dtype (auto -> bf16 on CUDA, f32 on the CPU; bf16 on the
// CPU fails naming the key). Parameters and optimizer state are fp32 either way.
DType compute_dtype(const Recipe& recipe, Device device);

}  // namespace lat::trainers
