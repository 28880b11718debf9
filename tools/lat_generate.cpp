// lat-generate: sample text from a checkpoint. Linear attention carries an O(1)-per-token recurrent state;
// softmax attention a KV cache (trainers/generate.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <span>
#include <string>

#include "tools/cli.h"
#include "core/error.h"
#include "core/stop.h"
#include "core/threads.h"
#include "trainers/run_tokenizer.h"
#include "trainers/checkpoint.h"
#include "trainers/generate.h"
#include "trainers/memory_estimate.h"
#include "trainers/model_weights.h"
#include "trainers/recipe.h"
#include "trainers/setup.h"

// The whole tool but the re-execution; tests/fuzz/fuzz_generate_args.cpp drives it with arbitrary arguments.
int generate_main(int argc, char** argv) {
  CLI::App app{"lat-generate: sample text from a lat checkpoint (with the tokenizer it stores, or bytes)"};
  app.set_version_flag("--version", std::string("lat ") + LAT_VERSION);
  std::string checkpoint, prompt = "\n", device_name = "cpu";
  lat::trainers::SamplingOptions options;
  app.add_option("checkpoint", checkpoint, "checkpoint file (step_*.h5)")->required();
  app.add_option("--prompt", prompt, "text to continue");
  app.add_option("--tokens", options.tokens, "number of tokens to generate")->check(lat::tools::kNonNegativeInteger);
  app.add_option("--temperature", options.temperature, "sampling temperature (0: greedy)")
      ->check(lat::tools::kNonNegativeNumber);
  app.add_option("--top-k", options.top_k, "sample among the k most likely tokens (0: all)")
      ->check(lat::tools::kNonNegativeInteger);
  app.add_option("--seed", options.seed, "sampling seed");
  app.add_option("--device", device_name, "cpu or cuda");
  bool reset_at_eos = true;
  app.add_flag("--reset-at-eos,!--no-reset-at-eos", reset_at_eos,
               "after EOS start a fresh state, as training with data.document_boundaries does (default: on)");
  if (const int rc = lat::tools::parse_command_line(app, argc, argv, "lat-generate"); rc >= 0) return rc;
  try {
    lat::Checkpoint ck = lat::read_checkpoint(checkpoint);
    lat::Recipe recipe = lat::Recipe::from_string(ck.recipe, checkpoint + ":/recipe");
    auto embed = ck.model.find("embed.weight");
    if (embed == ck.model.end()) throw lat::Error("checkpoint '" + checkpoint + "' has no embed.weight");
    const lat::Device device = lat::parse_device(device_name);
    // The recipe decides the model's shape: one that disagrees with the stored tensors (a damaged or edited
    // checkpoint) must not make us build a far larger model first.
    double stored = 0;
    for (const auto& [name, t] : ck.model) stored += static_cast<double>(t.numel());
    const double expected =
        lat::trainers::estimate_training_memory(recipe, embed->second.size(0), lat::Device::cpu()).parameters;
    if (expected > 2 * stored + 1e6)
      throw lat::Error("checkpoint '" + checkpoint + "': its recipe describes a model of about " +
                       std::to_string(static_cast<long long>(expected)) + " parameters, but it stores " +
                       std::to_string(static_cast<long long>(stored)));
    lat::autograd::nn::LanguageModel model(lat::trainers::model_config(recipe, embed->second.size(0)), device);
    lat::trainers::load_model_weights(model.parameters(), ck, checkpoint);
    // Tokens are printed as they come, so a long generation shows progress and Ctrl-C keeps what was printed.
    // The checkpoint's own tokenizer: bytes, or the BPE tokenizer the run trained with.
    const lat::trainers::TextCodec tok = lat::trainers::TextCodec::from_stored(ck.tokenizer, "checkpoint '" + checkpoint + "'");
    if (tok.vocab_size() > embed->second.size(0))
      throw lat::Error("checkpoint '" + checkpoint + "': its tokenizer has " + std::to_string(tok.vocab_size()) +
                       " tokens but the model only " + std::to_string(embed->second.size(0)));
    const std::vector<int32_t> prompt_ids = tok.encode_prompt(prompt);
    options.document_separator = reset_at_eos ? tok.document_separator() : -1;
    lat::trainers::generation_budget(model, static_cast<int64_t>(prompt_ids.size()), options.tokens);  // may refuse
    std::fputs(prompt.c_str(), stdout);
    std::fflush(stdout);
    options.on_token = [&](int32_t id) {
      const std::string text = tok.render(std::span<const int32_t>(&id, 1));
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    };
    lat::install_stop_handlers();
    lat::trainers::generate(model, prompt_ids, options);
    std::fputs("\n", stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lat-generate: %s\n", e.what());
    return 1;
  }
}

#ifndef LAT_GENERATE_NO_MAIN
int main(int argc, char** argv) {
  lat::prefer_passive_waiting(argv);  // before anything else: it may re-execute the tool (core/threads.h)
  return generate_main(argc, argv);
}
#endif
