// lat-tokenize through the real binary: training on the KJV (vocab 4096) is deterministic and round-trips; encode
// writes uint32 shards with a document index that a recipe trains on, resumes from exactly, and whose
// checkpoint carries the tokenizer so that lat-generate prints text.
#include <doctest/doctest.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "data/shards.h"
#include "data/tokenizer_json.h"
#include "support/shell.h"
#include "support/temp_dir.h"
#include "support/tiny_training.h"
#include "support/tool_files.h"
#include "trainers/checkpoint.h"

using namespace lat;
using lat::testing::run_shell;
using lat::testing::slurp;
using lat::testing::TempDir;
using lat::testing::tool;

TEST_CASE("lat-tokenize train: the KJV at vocab 4096 round-trips, and the same input gives the same file") {
  const std::string kjv = std::string(LAT_SOURCE_DIR) + "/data/kjv.txt";
  if (!std::filesystem::exists(kjv)) {
    if (std::getenv("CI")) FAIL_CHECK(kjv << " is missing (tools/setup.sh writes it)");
    else MESSAGE("skipped: " << kjv << " is missing (tools/setup.sh writes it)");
    return;
  }
  TempDir dir("tokenize_kjv");
  const std::string train = tool("lat-tokenize") + " train --vocab 4096 " + kjv + " --out ";
  const testing::ShellResult a = run_shell(train + dir / "a.json --threads 2 2>&1");
  REQUIRE_MESSAGE(a.exit_code == 0, a.output);
  const testing::ShellResult b = run_shell(train + dir / "b.json --threads 1 2>&1");
  REQUIRE_MESSAGE(b.exit_code == 0, b.output);
  CHECK(slurp(dir / "a.json") == slurp(dir / "b.json"));
  const data::BpeTokenizer tok = data::load_tokenizer(dir / "a.json");
  CHECK(tok.vocab_size() == 4096);
  const std::string text = slurp(kjv);
  const std::vector<int32_t> ids = tok.encode(text, false, 2);
  CHECK(tok.decode(ids) == text);
  CHECK(static_cast<double>(text.size()) / static_cast<double>(ids.size()) > 3.0);  // it compresses

  // Hugging Face's own implementation (tokenizers.js, tools/tokenizer-reference/) loads the file and gives
  // lat's ids on a slice of the KJV and a line of digits, accents, CJK, emoji and contractions.
  const std::string reference = std::string(LAT_SOURCE_DIR) + "/tools/tokenizer-reference";
  if (!std::filesystem::exists(reference + "/node_modules/@huggingface/tokenizers") ||
      run_shell("command -v node >/dev/null").exit_code != 0) {
    if (std::getenv("CI")) FAIL_CHECK("node or " << reference << "/node_modules is missing (tools/setup.sh installs them)");
    else MESSAGE("skipped the tokenizers.js check: node or " << reference << "/node_modules is missing");
    return;
  }
  const std::string sample = text.substr(0, 300000) + "Numbers 12345, 3.14; caf\xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x99\x82 it's THEY'LL\n\n  end";
  dir.write("sample.txt", sample);
  const testing::ShellResult hf = run_shell("node " + reference + "/hf-encode.mjs " + dir / "a.json " + dir / "sample.txt " +
                                            dir / "hf.ids 2>&1");
  REQUIRE_MESSAGE(hf.exit_code == 0, hf.output);
  const std::string raw = slurp(dir / "hf.ids");
  std::vector<int32_t> hf_ids(raw.size() / 4);
  std::memcpy(hf_ids.data(), raw.data(), 4 * hf_ids.size());
  const std::vector<int32_t> lat_ids = tok.encode(sample, false);
  CHECK(hf_ids.size() == lat_ids.size());
  CHECK(hf_ids == lat_ids);
}

TEST_CASE("uint32 shards: encode, train, resume exactly, and lat-generate prints text from the checkpoint") {
  TempDir dir("tokenize_shards");
  const std::string corpus = testing::tiny_corpus();
  const std::string docs[] = {corpus.substr(0, 1500), corpus.substr(1500, 1500), corpus.substr(3000)};
  for (int i = 0; i < 3; ++i) dir.write("docs/" + std::to_string(i) + ".txt", docs[i]);
  const std::string tok_file = dir / "tok.json";
  testing::ShellResult r = run_shell(tool("lat-tokenize") + " train --vocab 350 --min-frequency 1 --out " + tok_file +
                                     " " + dir / "docs 2>&1");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  r = run_shell(tool("lat-tokenize") + " encode --tokenizer " + tok_file + " --out " + dir / "shards" +
                " --format u32 --shard-tokens 600 " + dir / "docs 2>&1");
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  CHECK(r.output.find("3 documents") != std::string::npos);
  // A second encode into the same folder would mix two corpora: refused, nothing touched.
  const std::string first_shard = slurp(dir / "shards/shard_000000.bin");
  CHECK(run_shell(tool("lat-tokenize") + " encode --tokenizer " + tok_file + " --out " + dir / "shards " + dir / "docs 2>&1")
            .exit_code == 1);
  CHECK(slurp(dir / "shards/shard_000000.bin") == first_shard);

  const data::BpeTokenizer tok = data::load_tokenizer(tok_file);
  data::ShardDataset shards(dir / "shards");
  CHECK(shards.files().size() >= 2);
  CHECK(data::inspect_shard(shards.files()[0]).token_bytes == 4);
  const std::vector<int32_t> all = shards.read(0, shards.size());
  CHECK(tok.decode(all) == "<|endoftext|>" + docs[0] + "<|endoftext|>" + docs[1] + "<|endoftext|>" + docs[2]);
  REQUIRE(shards.document_starts().size() == 3);
  for (int64_t s : shards.document_starts()) CHECK(all[static_cast<size_t>(s)] == *tok.document_token());
  CHECK(data::load_tokenizer(dir / "shards/tokenizer.json").vocab_size() == tok.vocab_size());

  const Recipe recipe = Recipe::from_string(
      testing::kTinyRecipe, "tiny.toml",
      {"data.kind=shards", "data.pattern=" + dir / "shards/*.bin", "data.tokenizer=" + tok_file, "data.val_fraction=0.25"});
  testing::train(recipe, dir / "straight");
  CHECK(testing::train(recipe, dir / "split", "", 10).interrupted);
  CHECK(testing::train(recipe, dir / "split", "auto").steps_done == 20);
  const std::string final_checkpoint = checkpoint_path(dir / "split/checkpoints", 20);
  const Checkpoint a = read_checkpoint(checkpoint_path(dir / "straight/checkpoints", 20));
  const Checkpoint b = read_checkpoint(final_checkpoint);
  REQUIRE(b.metrics.loss.size() == 20);
  CHECK(a.metrics.loss == b.metrics.loss);  // bit-identical
  for (const auto& entry : a.model) CHECK(entry.second.to_vector<float>() == b.model.at(entry.first).to_vector<float>());
  CHECK(a.model.at("embed.weight").size(0) == tok.vocab_size());
  CHECK(b.tokenizer == data::write_tokenizer_json(tok));  // the tokenizer travels with the checkpoint

  // Generation needs only the checkpoint: the tokenizer file may be gone.
  std::filesystem::remove(tok_file);
  const testing::ShellResult g =
      run_shell(tool("lat-generate") + " " + final_checkpoint + " --prompt 'And God' --tokens 20 --temperature 0 2>/dev/null");
  REQUIRE_MESSAGE(g.exit_code == 0, g.output);
  INFO(g.output);
  REQUIRE(g.output.rfind("And God", 0) == 0);
  const std::string sample = g.output.substr(7);
  CHECK(sample.find("<id") == std::string::npos);
  int letters = 0;
  bool printable = true;
  for (unsigned char c : sample) {
    letters += std::isalpha(c) != 0;
    printable = printable && (std::isprint(c) || std::isspace(c));
  }
  CHECK(letters > 10);  // words, not numbers
  CHECK(printable);
}
