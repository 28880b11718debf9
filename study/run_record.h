// RunRecord: what the report knows about one run of a study, read back from the run's directory. Every file
// it comes from is small and text, so `lat-study --report-only` works on run directories copied from other
// machines without their checkpoints.
//
// A run directory (DIR/runs/<variant>/<axis>=<value>/.../lr=<lr>/seed=<seed>/) holds:
//   run.json      written by lat-study before the run starts: which cell of the grid this is.
//                 {"variant": "elu1", "lr": 0.003, "seed": 2, "axes": {"data.num_kv_pairs": "8", ...},
//                  "overrides": ["attention.kind=linear", ...]}
//                 axes: the study's extra axes (not variant, lr or seed), key -> value exactly as written in
//                 the study file (TOML spelling, strings unquoted).
//   metrics.jsonl written by lat-train's trainer: one JSON object per logged step with keys step, loss, lr,
//                 grad_norm, tokens_per_s, elapsed_s and, on evaluation steps, val_loss / accuracy.
//   eval.json     written by lat-study after the run finished (its presence means "finished"):
//                 {"parameters": 812345, "state_floats": 16384, "tokens": 819200, "steps": 400,
//                  "wall_s": 123.4, "tokens_per_s": 6640.2, "peak_memory_mib": 512.3, "device": "cpu",
//                  "byte_level": true,
//                  "val":  {"loss": 1.61, "bits_per_byte": 2.32, "accuracy": null, "tokens": 65536, "examples": 512},
//                  "test": {"loss": 1.65, "bits_per_byte": 2.38, "accuracy": null, "tokens": 65536, "examples": 512},
//                  "positions": [
//                     {"length": 128, "available": true, "buckets": [{"begin": 0, "end": 1, "loss": 5.1}, ...]},
//                     {"length": 1024, "available": false, "reason": "cosFormer's M = 128 (attention.max_context)"}]}
//                 "loss" is mean nats per predicted token; bits_per_byte = loss / ln 2 for byte-level data (null
//                 otherwise); accuracy is MQAR query accuracy (null for language modelling). state_floats is the
//                 recurrent state a layer carries per sequence during generation (linear: H·m·e(+1); softmax: 0,
//                 it grows with the context instead). positions[0] is the training context; later entries are
//                 2x, 4x, 8x it; buckets are log-spaced [begin, end) position ranges with the mean loss there.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lat::study {

// One logged line of metrics.jsonl.
struct CurvePoint {
  int64_t step = 0;
  double loss = 0;
  double elapsed_s = 0;
  double tokens_per_s = 0;
  std::optional<double> val_loss;
  std::optional<double> accuracy;
};

// One held-out split's figures (eval.json "val" / "test").
struct SplitScore {
  double loss = 0;
  std::optional<double> bits_per_byte;
  std::optional<double> accuracy;
  int64_t tokens = 0;
  int64_t examples = 0;
};

struct PositionBucket {
  int64_t begin = 0, end = 0;  // positions [begin, end) of the evaluated sequence
  double loss = 0;
};

// Per-position loss at one evaluation length.
struct PositionProfile {
  int64_t length = 0;
  bool available = true;
  std::string reason;  // why not, when !available
  std::vector<PositionBucket> buckets;
};

struct RunRecord {
  // run.json
  std::string dir;  // the run directory, relative to the study directory ("runs/elu1/lr=3e-3/seed=2")
  std::string variant;
  double lr = 0;
  int64_t seed = 0;
  std::map<std::string, std::string> axes;
  std::vector<std::string> overrides;
  // metrics.jsonl
  std::vector<CurvePoint> curve;
  // eval.json (finished runs only)
  bool finished = false;
  int64_t parameters = 0;
  int64_t state_floats = 0;
  int64_t tokens = 0;
  int64_t steps = 0;
  double wall_s = 0;
  double tokens_per_s = 0;
  double peak_memory_mib = 0;
  std::string device;
  bool byte_level = false;
  SplitScore val, test;
  std::vector<PositionProfile> positions;
};

}  // namespace lat::study
