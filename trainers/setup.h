// From a validated Recipe to the objects a run needs: the data source, the model configuration, the
// optimizer and schedule settings. One place maps recipe keys to the lower layers' own config structs.
#pragma once

#include <memory>

#include "autograd/nn/language_model.h"
#include "data/window.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "optim/step_guard.h"
#include "trainers/recipe.h"

namespace lat::trainers {

// The training windows described by [data] at [training] seq_len (and, unless the recipe has validation data
// of its own, the held-out tail the loader takes off their end). Missing or bad data files throw lat::Error
// naming the recipe key and file.
std::shared_ptr<const data::WindowSource> make_window_source(const Recipe& recipe);

enum class Split { Validation, Test };

// The held-out windows of `split` at any sequence length (evaluation at 1x, 2x, ... the training context).
// Text: data.val_path / data.test_path; shards: data.val_pattern / data.test_pattern. Without them,
// Validation is the tail held out of the training data (at training.seq_len exactly the loader's validation
// windows; at other lengths the same tokens cut differently) and Test throws lat::Error naming
// data.test_path / data.test_pattern. MQAR: Validation is the loader's held-out sequence indices
// [num_examples - V, num_examples) and Test the indices [num_examples, num_examples + data.test_examples),
// never trained or validated on. A sequence is a function of (seed, index, seq_len): at training.seq_len
// these are the very sequences the loader sees.
std::shared_ptr<const data::WindowSource> make_eval_source(const Recipe& recipe, Split split,
                                                           int64_t seq_len);
// Whether validation comes from data of its own (val_path or val_pattern) rather than a held-out tail: the
// loader then holds nothing out and validates on make_eval_source(recipe, Split::Validation, seq_len).
bool has_separate_validation(const Recipe& recipe);
// True when tokens are bytes of UTF-8 text (data.kind = "text", no data.tokenizer), so loss / ln 2 is bits per byte.
bool byte_level(const Recipe& recipe);
// Vocabulary size: model.vocab_size, or the data's (258 for bytes, data.tokenizer's, data.vocab for MQAR, shards'
// max id + 1). Fails naming model.vocab_size when it is smaller, and data.pattern when a shard holds an id outside
// data.tokenizer's vocabulary.
int64_t resolved_vocab_size(const Recipe& recipe, const data::WindowSource& source);

autograd::nn::LanguageModelConfig model_config(const Recipe& recipe, int64_t vocab_size);
optim::AdamWConfig adamw_config(const Recipe& recipe);
optim::ScheduleConfig schedule_config(const Recipe& recipe);
// optimizer.grad_clip and training.skip_loss_z / skip_norm_z.
optim::StepGuardConfig step_guard_config(const Recipe& recipe);

// ZeRO-1 is on: distributed.zero = 1 and more than one rank (at world size 1 there is nothing to shard).
bool zero_sharding(const Recipe& recipe, int world_size);

// Whether this run restarts attention at document boundaries (docs/data.md): Recipe::resolved_document_boundaries(),
// and never on CUDA, whose attention kernels do not honour boundaries yet: such a run trains without them, and
// TrainingSession says so in a warning (the kernels themselves refuse boundaries, so none is ever ignored).
bool document_boundaries_on(const Recipe& recipe, Device device);
// The token that begins each document (data/documents.h), or -1 when document_boundaries_on is false: EOS for
// byte-level text, data.tokenizer's document token for BPE text (-1 without one), data.eot_token for shards.
int32_t document_separator(const Recipe& recipe, Device device);

// training.device resolved: auto -> cuda when this build has CUDA and a GPU is visible, else cpu.
Device resolve_device(const Recipe& recipe);
// training.precision on `device`: the model's compute dtype (auto -> bf16 on CUDA, f32 on the CPU; bf16 on the
// CPU fails naming the key). Parameters and optimizer state are fp32 either way.
DType compute_dtype(const Recipe& recipe, Device device);

}  // namespace lat::trainers
