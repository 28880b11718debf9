// lat-study's evaluation on the GPU against the CPU: one MQAR model (Philox initialisation gives the same weights
// on both devices) scored by study::evaluate in bf16 on CUDA and in fp32 on the CPU. MQAR's large vocabulary
// makes the evaluation gather the query rows of the logits on the device, the path that failed on an H100 when
// the gathered copy did not keep the logits' dtype; the scores must agree within bf16 rounding.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/nn/language_model.h"
#include "study/evaluate.h"
#include "trainers/recipe.h"
#include "trainers/setup.h"

using namespace lat;

TEST_CASE("study::evaluate on CUDA (bf16, query rows gathered on the device) matches the fp32 CPU scores") {
  const Recipe recipe = Recipe::from_string(R"(
[model]
d_model = 64
layers = 1
mlp = false
[attention]
kind = "linear"
feature_map = "elu1"
heads = 2
block = 16
[data]
kind = "mqar"
vocab = 512
num_kv_pairs = 4
num_examples = 2000
test_examples = 300
[training]
seq_len = 32
batch_size = 16
)",
                                            "mqar-eval");
  const auto source = trainers::make_window_source(recipe);
  auto config = trainers::model_config(recipe, trainers::resolved_vocab_size(recipe, *source));
  const autograd::nn::LanguageModel cpu(config, Device::cpu());
  config.compute_dtype = DType::BF16;
  const autograd::nn::LanguageModel gpu(config, Device::cuda());
  study::EvalOptions options;
  options.length_multiples = {1, 2};
  const study::Evaluation a = study::evaluate(cpu, recipe, options), b = study::evaluate(gpu, recipe, options);
  CHECK(b.test.examples == 300);
  CHECK(b.test.tokens == a.test.tokens);  // every query scored: 300 sequences x 4 queries
  CHECK(b.test.loss == doctest::Approx(a.test.loss).epsilon(2e-2));
  CHECK(b.val.loss == doctest::Approx(a.val.loss).epsilon(2e-2));
  REQUIRE(a.test.accuracy.has_value());
  REQUIRE(b.test.accuracy.has_value());
  CHECK(std::abs(*b.test.accuracy - *a.test.accuracy) < 0.05);
  REQUIRE(b.positions.size() == 2);
  CHECK(b.positions[1].available);
}
