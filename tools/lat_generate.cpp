// lat-generate: sample text from a checkpoint. Linear attention carries an O(1)-per-token recurrent state;
// softmax attention a KV cache (trainers/generate.h).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "tools/cli.h"
#include "core/error.h"
#include "data/tokenizer.h"
#include "trainers/checkpoint.h"
#include "trainers/generate.h"
#include "trainers/model_weights.h"
#include "trainers/recipe.h"
#include "trainers/setup.h"

int main(int argc, char** argv) {
  CLI::App app{"lat-generate: sample text from a lat checkpoint (byte-level models)"};
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
  if (const int rc = lat::tools::parse_command_line(app, argc, argv, "lat-generate"); rc >= 0) return rc;
  try {
    lat::Checkpoint ck = lat::read_checkpoint(checkpoint);
    lat::Recipe recipe = lat::Recipe::from_string(ck.recipe, checkpoint + ":/recipe");
    auto embed = ck.model.find("embed.weight");
    if (embed == ck.model.end()) throw lat::Error("checkpoint '" + checkpoint + "' has no embed.weight");
    const lat::Device device = lat::parse_device(device_name);
    lat::autograd::nn::LanguageModel model(lat::trainers::model_config(recipe, embed->second.size(0)), device);
    lat::trainers::load_model_weights(model.parameters(), ck, checkpoint);
    lat::data::ByteTokenizer tok;
    std::vector<int32_t> ids = lat::trainers::generate(model, tok.encode(prompt, true), options);
    std::printf("%s%s\n", prompt.c_str(), tok.decode(ids).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lat-generate: %s\n", e.what());
    return 1;
  }
}
