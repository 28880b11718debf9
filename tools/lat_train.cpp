// lat-train: train a model from a TOML recipe.
//
//   lat-train [RECIPE] [--set section.key=value]... [--run-dir DIR] [--resume PATH|auto [--allow-fresh]]
//             [--overwrite]
//
// Without RECIPE it runs the quickstart recipe compiled into the binary. Under mpirun every rank runs this
// same command; rank 0 prints and writes checkpoints. The loop itself lives in trainers/trainer.cpp.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "tools/cli.h"

#include "core/threads.h"
#include "core/error.h"
#include "core/log.h"
#include "trainers/run_tokenizer.h"
#include "trainers/communicator.h"
#include "trainers/generate.h"
#include "trainers/setup.h"
#include "trainers/trainer.h"

namespace {

std::string default_run_dir(const std::string& recipe_path) {
  const std::string stem = recipe_path.empty() ? "quickstart" : std::filesystem::path(recipe_path).stem().string();
  return "runs/" + stem;
}

void print_sample(const lat::trainers::Trainer& trainer, const lat::Recipe& recipe) {
  const lat::trainers::TextCodec tok(lat::trainers::recipe_tokenizer(recipe));
  const std::string prompt = "And God said";
  lat::trainers::SamplingOptions options;
  options.tokens = 300;
  options.temperature = 0.8;
  options.top_k = 40;
  options.seed = 1;
  options.document_separator = tok.document_separator();  // as lat-generate's default
  std::vector<int32_t> ids = lat::trainers::generate(trainer.model(), tok.encode_prompt(prompt), options);
  lat::log_info("sample (prompt \"{}\", temperature 0.8, top-k 40):\n{}{}", prompt, prompt, tok.render(ids));
}

}  // namespace

int main(int argc, char** argv) {
  lat::prefer_passive_waiting(argv);  // before anything else: it may re-execute the tool (core/threads.h)
  CLI::App app{"lat-train: train a linear-attention language model from a TOML recipe"};
  app.set_version_flag("--version", std::string("lat ") + LAT_VERSION);
  std::string recipe_path, run_dir, resume;
  std::vector<std::string> overrides;
  bool print_recipe = false, no_sample = false, overwrite = false, allow_fresh = false;
  int64_t stop_after = 0;
  app.add_option("recipe", recipe_path, "recipe file (TOML); default: the built-in quickstart recipe");
  app.add_option("--set", overrides, "override a recipe value: section.key=value (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--run-dir", run_dir, "directory for metrics.jsonl, recipe.toml and checkpoints (default runs/<recipe name>)");
  app.add_option("--resume", resume, "checkpoint to resume from, or 'auto' for the newest valid one in the run directory");
  app.add_flag("--allow-fresh", allow_fresh,
               "with --resume auto: start from step 0 when every checkpoint is damaged (they are kept)");
  app.add_flag("--overwrite", overwrite,
               "start a fresh run in a run directory that holds another run, deleting its checkpoints and metrics");
  app.add_option("--stop-after", stop_after, "stop after N steps of this invocation, writing a checkpoint (resume later)")
      ->check(lat::tools::kPositiveInteger);
  app.add_flag("--print-recipe", print_recipe, "print the resolved recipe and exit");
  app.add_flag("--no-sample", no_sample, "do not print a generated sample at the end of a text run");
  if (const int rc = lat::tools::parse_command_line(app, argc, argv, "lat-train"); rc >= 0) return rc;

  std::unique_ptr<lat::trainers::Communicator> comm;
  try {
    lat::Recipe recipe = recipe_path.empty() ? lat::Recipe::embedded_default() : lat::Recipe::from_file(recipe_path);
    recipe.apply_overrides(overrides);
    // The device decides the communicator (NCCL for CUDA under mpirun), so the recipe is read first.
    comm = lat::trainers::make_communicator(print_recipe ? lat::Device::cpu() : lat::trainers::resolve_device(recipe));
    lat::set_log_rank(comm->rank(), comm->world_size());
    if (!comm->is_root()) lat::set_log_level(lat::LogLevel::Warn);
    if (print_recipe) {
      if (comm->is_root()) std::fputs(recipe.to_toml().c_str(), stdout);
      return 0;
    }
    lat::trainers::TrainOptions options;
    options.run_dir = run_dir.empty() ? default_run_dir(recipe_path) : run_dir;
    options.resume = resume;
    options.overwrite = overwrite;
    options.allow_fresh = allow_fresh;
    options.stop_after = stop_after;
    lat::trainers::Trainer trainer(recipe, options, *comm);
    lat::trainers::Trainer::install_signal_handlers();
    lat::trainers::TrainResult result = trainer.run();
    if (!no_sample && !result.interrupted && comm->is_root() && recipe.data.kind == lat::DataKind::Text)
      print_sample(trainer, recipe);
    return 0;
  } catch (const std::exception& e) {
    if (comm && comm->world_size() > 1) comm->abort(e.what());
    std::fprintf(stderr, "lat-train: %s\n", e.what());
    return 1;
  }
}
