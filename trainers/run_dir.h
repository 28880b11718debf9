// The run directory's policy (docs/checkpoints.md, "Run directories"): what a fresh run may start over, which
// leftovers of a killed run are cleaned up, and how metrics.jsonl is cut back to the step a run resumes from.
// Only rank 0 calls these. Every write here is atomic (a temporary file renamed into place).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lat::trainers {

// Creates `run_dir` and proves it writable, then removes the temporary files lat's own atomic writes leave
// behind when killed: <checkpoint_dir>/step_*.h5.tmp, <run_dir>/metrics.jsonl.tmp and recipe.toml.tmp. Other
// files are never touched.
void prepare_run_dir(const std::string& run_dir, const std::string& checkpoint_dir);

// For a fresh run (no --resume): refuses, naming the directory and what it holds, when `run_dir` holds
// another run (any step_*.h5 in checkpoint_dir, or a metrics.jsonl with rows). With `overwrite` it deletes
// exactly those files instead.
void claim_for_fresh_run(const std::string& run_dir, const std::string& checkpoint_dir, bool overwrite);

// For --resume PATH: refuses, naming the newest one, when `checkpoint_dir` holds checkpoints of steps after
// `resumed_step`. Continuing would write a second history beside them, and a later --resume auto would pick
// the newer, abandoned one.
void refuse_newer_checkpoints(const std::string& checkpoint_dir, const std::string& resume_file,
                              int64_t resumed_step);

// Rewrites the metrics file at `path` (atomically) so that it holds each row with step <= `last_step` once,
// in increasing step order: rows the resumed run will log again, duplicates and torn lines (a kill mid-write)
// are dropped. A missing file stays missing.
void keep_metrics_through(const std::string& path, int64_t last_step);

// Writes `text` to `path` through "<path>.tmp" (written, fsync'ed, renamed); throws naming the path.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace lat::trainers
