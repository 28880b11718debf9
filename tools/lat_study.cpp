// lat-study: the comparison as one command. Trains every run of a study (variants x axes x learning rates x
// seeds, study/study_file.h) as ordinary lat-train run directories, scores each on held-out splits, and writes
// DIR/report.md, DIR/report.json and DIR/plots/*.svg.
//
//   lat-study STUDY.toml [--study-dir DIR] [--only GLOB] [--shard I/N] [--report-only] [--dry-run] [--note TEXT]...
//
// Rerunning skips finished runs and resumes interrupted ones. --shard I/N takes a fixed 1/N of the grid (the
// report is then left to --report-only once every shard's runs are in DIR); under mpirun the ranks divide the
// selected runs the same way, one run at a time per rank (one GPU per rank on a multi-GPU node), and rank 0
// writes the report.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "tools/cli.h"

#include "core/error.h"
#include "core/threads.h"
#include "core/log.h"
#include "study/report.h"
#include "study/run_reader.h"
#include "study/runner.h"
#include "study/study_file.h"
#include "trainers/communicator.h"
#ifdef LAT_HAVE_CUDA
#include "core/cuda_context.h"
#endif

namespace {

// "I/N" with 1 <= I <= N; returns false when malformed.
bool parse_shard(const std::string& text, int& index, int& count) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return false;
  try {
    size_t a = 0, b = 0;
    index = std::stoi(text.substr(0, slash), &a);
    count = std::stoi(text.substr(slash + 1), &b);
    return a == slash && b == text.size() - slash - 1 && count >= 1 && index >= 1 && index <= count;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  lat::prefer_passive_waiting(argv);  // before anything else: it may re-execute the tool (core/threads.h)
  CLI::App app{"lat-study: sweep attention variants x learning rates x seeds and write the report"};
  app.set_version_flag("--version", std::string("lat ") + LAT_VERSION);
  std::string study_path, study_dir, only, shard = "1/1";
  std::vector<std::string> notes;
  bool report_only = false, dry_run = false;
  app.add_option("study", study_path, "study file (TOML): base recipe, variants, learning rates, seeds, axes")->required();
  app.add_option("--study-dir", study_dir, "where the runs and the report go (default studies/<study name>)");
  app.add_option("--only", only, "only runs whose directory or variant matches this glob (e.g. 'runs/elu1/*')");
  app.add_option("--shard", shard, "run the I-th of N fixed parts of the grid (1-based), e.g. 2/4");
  app.add_flag("--report-only", report_only, "train nothing: write the report from the run directories in DIR");
  app.add_flag("--dry-run", dry_run, "list the runs with their parameter counts and token budgets, then exit");
  app.add_option("--note", notes, "a line for the top of the report (commands, commit, device); repeatable");
  if (const int rc = lat::tools::parse_command_line(app, argc, argv, "lat-study"); rc >= 0) return rc;
  int shard_index = 0, shard_count = 0;
  if (!parse_shard(shard, shard_index, shard_count)) {
    std::fprintf(stderr, "lat-study: --shard: '%s' is not I/N with 1 <= I <= N\n", shard.c_str());
    return 2;
  }

  std::unique_ptr<lat::trainers::Communicator> world;
  try {
    const lat::study::Study study = lat::study::Study::from_file(study_path);
    if (study_dir.empty()) study_dir = "studies/" + study.name;
    // Ranks only divide the runs; each run trains on its own (world size 1).
    world = lat::trainers::make_communicator(lat::Device::cpu());
    lat::set_log_rank(world->rank(), world->world_size());
#ifdef LAT_HAVE_CUDA
    if (world->world_size() > 1 && lat::cuda::device_count() > 0)
      lat::cuda::init(world->local_rank() % lat::cuda::device_count());
#endif
    const auto mine = lat::study::select_runs(study, shard_index - 1, shard_count, world->rank(), world->world_size(), only);
    if (dry_run) {
      if (world->is_root()) {
        const auto all = lat::study::select_runs(study, shard_index - 1, shard_count, 0, 1, only);
        std::printf("study '%s': %zu runs (of %zu in the grid) into %s\n", study.name.c_str(), all.size(),
                    study.runs().size(), study_dir.c_str());
        for (const std::string& line : lat::study::describe_runs(all)) std::printf("%s\n", line.c_str());
      }
      return 0;
    }
    if (!report_only) {
      size_t done = 0;
      for (const lat::study::StudyRun* run : mine) {
        lat::log_info("lat-study: run {}/{}: {}", ++done, mine.size(), run->dir);
        if (lat::study::run_one(study, *run, study_dir) == lat::study::RunOutcome::Interrupted) {
          std::fprintf(stderr, "lat-study: interrupted in %s; run the same command again to continue\n", run->dir.c_str());
          return 130;
        }
      }
      world->barrier();
      if (shard_count > 1 || !only.empty()) {
        if (world->is_root())
          lat::log_info("lat-study: shard {}/{} done; `lat-study {} --study-dir {} --report-only` merges the runs",
                        shard_index, shard_count, study_path, study_dir);
        return 0;
      }
    }
    if (world->is_root()) {
      lat::study::ReportOptions options;
      options.title = study.name;
      options.baseline = study.baseline;
      for (const auto& v : study.variants) options.variant_order.push_back(v.name);
      options.preamble = notes;
      for (const auto& run : study.runs()) options.expected_runs.push_back(run.dir);
      lat::study::write_report(lat::study::read_runs(study_dir), options, study_dir);
      lat::log_info("lat-study: wrote {}/report.md, report.json and plots/", study_dir);
    }
    return 0;
  } catch (const std::exception& e) {
    if (world && world->world_size() > 1) world->abort(e.what());
    std::fprintf(stderr, "lat-study: %s\n", e.what());
    return 1;
  }
}
