// Document boundaries from the data (data/documents.h): starts counted by hand, batches carrying them
// (training and validation, only with a separator), EOS between the files of a text folder; the recipe's
// data.document_boundaries and data.eot_token and what a run does with them (trainers/setup.h).
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"
#include "data/documents.h"
#include "data/loader.h"
#include "data/tokenizer.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "trainers/recipe.h"
#include "trainers/setup.h"

using namespace lat;

namespace {

constexpr int32_t kSep = 9;

std::vector<int32_t> starts_of(const std::vector<int32_t>& inputs) {
  std::vector<int32_t> s(inputs.size());
  data::document_starts(inputs.data(), static_cast<int64_t>(inputs.size()), kSep, s.data());
  return s;
}

}  // namespace

TEST_CASE("document_starts: each separator begins a document, the window's first token begins the first") {
  CHECK(starts_of({5, 6, 7}) == std::vector<int32_t>{0, 0, 0});           // one document, cut by the window
  CHECK(starts_of({5, kSep, 3, 4}) == std::vector<int32_t>{0, 1, 1, 1});  // the separator is the first input
  CHECK(starts_of({kSep, 3, kSep, kSep, 4}) ==
        std::vector<int32_t>{0, 0, 2, 3, 3});  // at 0; a one-token document
  CHECK(starts_of({1, 2, 3, kSep}) ==
        std::vector<int32_t>{0, 0, 0, 3});  // a document of one token at the end
  const Tensor batch = Tensor::from_vector<int32_t>({kSep, 1, kSep, 2, 3, 4, kSep, 5}, Shape{2, 4});
  CHECK(data::document_starts(batch, kSep).to_vector<int32_t>() ==
        std::vector<int32_t>{0, 0, 2, 2, 0, 0, 2, 2});
  CHECK_THROWS_AS(data::document_starts(Tensor::zeros(Shape{4}, DType::I32), kSep), Error);
}

TEST_CASE("loader: batches carry the document starts of their inputs, only with a separator") {
  testing::TempDir dir("documents");
  for (const char* name : {"a.txt", "b.txt", "c.txt"}) {
    std::ofstream(dir / name) << std::string(60, name[0]);  // three 60-byte files: EOS between them
  }
  auto tokens = std::make_shared<data::InMemoryTokens>(data::load_text_dataset(dir.file("")));
  auto source = std::make_shared<data::TokenWindows>(tokens, 16);
  data::LoaderConfig config;
  config.batch_size = 2;
  config.val_fraction = 0.2;
  config.shuffle = false;
  CHECK(data::Loader(source, config).next().document_starts.defined() == false);
  config.document_separator = data::ByteTokenizer::kEos;
  data::Loader loader(source, config);
  int64_t boundaries = 0;
  for (int step = 0; step < 4; ++step) {
    const data::Batch b = loader.next();
    REQUIRE(b.document_starts.defined());
    CHECK(b.document_starts.shape() == b.inputs.shape());
    CHECK(b.document_starts.to_vector<int32_t>() ==
          data::document_starts(b.inputs, data::ByteTokenizer::kEos).to_vector<int32_t>());
    for (int32_t x : b.inputs.to_vector<int32_t>()) boundaries += x == data::ByteTokenizer::kEos;
  }
  CHECK(boundaries == 2);  // the first 8 windows (tokens 0 .. 127) hold both EOS (at 60 and 121)
  data::Batch val;
  data::ValidationIterator it = loader.validation();
  REQUIRE(it.next(val));
  CHECK(val.document_starts.defined());
}

TEST_CASE("recipe: data.document_boundaries defaults on where the data has documents, and a run records it") {
  const Recipe text = Recipe::from_string(testing::kTinyRecipe);
  CHECK(text.data.document_boundaries);
  CHECK(text.data.eot_token == 50256);
  CHECK(text.resolved_document_boundaries());
  CHECK(trainers::document_separator(text, Device::cpu()) == data::ByteTokenizer::kEos);
  // CUDA kernels do not honour boundaries yet: such a run trains without them (a warning says so).
  CHECK(trainers::document_separator(text, Device::cuda(0)) == -1);
  const Recipe off = Recipe::from_string(testing::kTinyRecipe, "<r>", {"data.document_boundaries=false"});
  CHECK(trainers::document_separator(off, Device::cpu()) == -1);
  const Recipe shards = Recipe::from_string(
      testing::kTinyRecipe, "<r>", {"data.kind=\"shards\"", "data.pattern=\"x_*.bin\"", "data.eot_token=7"});
  CHECK(trainers::document_separator(shards, Device::cpu()) == 7);
  const Recipe mqar =
      Recipe::from_string(testing::kTinyRecipe, "<r>", {"data.kind=\"mqar\"", "training.seq_len=64"});
  CHECK_FALSE(mqar.resolved_document_boundaries());
  CHECK(trainers::document_separator(mqar, Device::cpu()) == -1);
  CHECK(mqar.to_toml().find("here: false: MQAR sequences have no documents") != std::string::npos);
  // Written out and read back, an MQAR recipe keeps its value (true means nothing there; to_toml says so).
  CHECK(Recipe::from_string(mqar.to_toml()) == mqar);
  CHECK_THROWS_WITH_AS(Recipe::from_string(testing::kTinyRecipe, "<r>", {"data.eot_token=-1"}),
                       doctest::Contains("data.eot_token"), Error);
}

TEST_CASE("training with document boundaries: the run's recipe.toml records what it did") {
  testing::TempDir dir("documents_run");
  {
    std::ofstream corpus(dir / "a.txt");
    corpus << testing::tiny_corpus();
  }
  {
    std::ofstream corpus(dir / "b.txt");
    corpus << testing::tiny_corpus();
  }
  for (bool on : {true, false}) {
    const std::string run = dir / (on ? "on" : "off");
    const Recipe r = Recipe::from_string(
        testing::kTinyRecipe, "<r>",
        {"data.path=\"" + dir.file("") + "\"", "training.steps=3", "schedule.warmup_steps=1",
         std::string("data.document_boundaries=") + (on ? "true" : "false")});
    testing::train(r, run);
    std::ifstream in(run + "/recipe.toml");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(text.find(std::string("document_boundaries = ") + (on ? "true" : "false")) != std::string::npos);
  }
}
