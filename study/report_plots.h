// The report's plots (loss vs tokens and vs seconds, lr curves, per-position loss, metric vs width, forest of
// paired differences), drawn from the analysis into <plots_dir>/*.svg. Returns the file names written.
#pragma once

#include <string>
#include <vector>

#include "study/analysis.h"

namespace lat::study {

std::vector<std::string> write_report_plots(const Analysis& analysis, const std::string& plots_dir);

}  // namespace lat::study
