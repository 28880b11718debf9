// Running a study's runs: each is an ordinary lat-train run directory under the study directory, trained in
// this process by trainers::Trainer, then scored by study::evaluate into eval.json. A run whose eval.json
// exists is finished and skipped; one with checkpoints but no eval.json resumes from its newest valid
// checkpoint (bit-exact on the CPU); one with neither starts afresh. So rerunning a study after any crash,
// SIGKILL included, finishes it with the numbers an uninterrupted study would have produced.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "study/study_file.h"

namespace lat::study {

enum class RunOutcome { AlreadyFinished, Finished, Interrupted };

// Trains and evaluates one run in `study_dir` (run.json first, eval.json last, both written atomically).
// Interrupted: SIGINT/SIGTERM stopped it after a checkpoint; the caller stops the study.
RunOutcome run_one(const Study& study, const StudyRun& run, const std::string& study_dir);

// The runs' parameter counts and token budgets, one line each (lat-study --dry-run).
std::vector<std::string> describe_runs(const std::vector<const StudyRun*>& runs);

// Writes `text` to `path` through `path.tmp` and a rename, so readers never see half a file.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace lat::study
