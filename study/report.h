// The study report: report.md (tables for people), report.json (the same numbers for programs) and
// plots/*.svg, written into the study directory from the runs' records.
//
// report.json has two top-level parts besides title and preamble: "results" holds everything that follows
// from the runs' deterministic outputs (the metric, the lr choices, validation and test figures, CIs, paired
// differences, parameter counts, missing runs) and is byte-identical for the same inputs; "measured" holds
// what a clock or allocator measured (tokens/s, wall time, peak memory, devices). Nothing holds a timestamp.
#pragma once

#include <string>
#include <vector>

#include "study/run_record.h"

namespace lat::study {

struct ReportOptions {
  std::string title = "lat-study report";
  std::string baseline;                    // the variant others are compared with ("" = none)
  std::vector<std::string> variant_order;  // these first, in this order; other variants follow alphabetically
  std::vector<std::string> preamble;  // lines printed verbatim at the top (commands, commit, device, ...)
  std::string metric;                 // "" = derive: accuracy, else bits_per_byte, else loss
  std::vector<std::string> expected_runs;  // the grid's run directories; those without one are listed as not run
};

// Writes <study_dir>/report.md, <study_dir>/report.json and <study_dir>/plots/*.svg.
void write_report(const std::vector<RunRecord>& runs, const ReportOptions& options,
                  const std::string& study_dir);

}  // namespace lat::study
