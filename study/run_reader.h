// Reading a study's run directories back into RunRecords (study/run_record.h documents the files).
//
// metrics.jsonl after crashes and resumes: a resumed invocation appends rows again from its checkpoint's
// step, so a step may appear more than once and steps may go backwards. For each step the row written last is
// kept, and the kept rows are ordered by step. elapsed_s restarts from 0 at every invocation; the reader
// makes it cumulative: rows are assigned to invocations in file order (a new invocation starts where the step
// or elapsed_s goes backwards), and where two consecutive kept rows come from different invocations, the
// earlier row's cumulative elapsed time is added as an offset to all later rows. Time spent on rows that a
// resume later rewrote is therefore not counted: the cumulative time is that of the trajectory the run kept.
#pragma once

#include <string>
#include <vector>

#include "study/run_record.h"

namespace lat::study {

// Reads <study_dir>/<run_dir_relative>/{run.json, metrics.jsonl, eval.json}. run.json is required;
// metrics.jsonl may be absent (no curve); no eval.json means finished = false. A malformed file throws a
// one-line lat::Error naming it.
RunRecord read_run(const std::string& study_dir, const std::string& run_dir_relative);

// Every run under <study_dir>/runs/ (any folder holding a run.json, at any depth), sorted by relative path.
std::vector<RunRecord> read_runs(const std::string& study_dir);

// The rows of a metrics.jsonl text after deduplication and with cumulative elapsed time (see above);
// `source` names the file in errors ("<source>:<line>: ...").
std::vector<CurvePoint> parse_metrics(const std::string& text, const std::string& source);

}  // namespace lat::study
