// lat-bench tokenize: the BPE tokenizer's speed on a text (default the KJV): training a vocabulary (--train-vocab,
// default 32768, on --train-text: the same text, or another file or folder of files, e.g. data/corpus/train, where
// the KJV runs out of pairs seen twice before 32K) and encoding with one thread and with all threads (best of
// --repeat runs each), in MB/s of text.
// Encodes with --tokenizer when given, else with the tokenizer it just trained; checks decode(encode(text)) ==
// text and that every thread count gives the same ids.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "bench/registry.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "data/bpe_train.h"
#include "data/tokenizer_json.h"
#include "tools/cli.h"

namespace lat::bench {
namespace {

struct TokenizeOptions {
  std::string text = "data/kjv.txt", tokenizer, train_text;
  int64_t train_vocab = 32768;
  int repeat = 3;
  int threads = 0;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) LAT_THROW("cannot open '", path, "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void run(const TokenizeOptions& o) {
  const std::string text = read_text(o.text);
  if (text.empty()) LAT_THROW("--text '", o.text, "' is empty");
  const double mb = static_cast<double>(text.size()) / 1e6;
  const int threads = o.threads > 0 ? o.threads : cpu_threads();
  std::printf("text %s: %.2f MB; %d threads\n", o.text.c_str(), mb, threads);

  // The training text: --text, or every regular file of --train-text (a file or a folder, names sorted).
  std::vector<std::string> train_texts;
  if (o.train_text.empty()) {
    train_texts.push_back(text);
  } else if (std::filesystem::is_directory(o.train_text)) {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(o.train_text))
      if (e.is_regular_file()) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) train_texts.push_back(read_text(f));
  } else {
    train_texts.push_back(read_text(o.train_text));
  }
  std::vector<std::string_view> views(train_texts.begin(), train_texts.end());
  double train_mb = 0;
  for (const auto& t : train_texts) train_mb += static_cast<double>(t.size()) / 1e6;
  data::BpeTrainOptions train;
  train.vocab_size = o.train_vocab;
  train.threads = threads;
  Timer t;
  data::BpeTokenizer trained = data::train_bpe(views, train);
  const double train_seconds = t.seconds();
  std::printf("train   vocab %lld on %s (%.2f MB, cl100k split, %d threads): %.2f s, %.2f MB/s, %d tokens (%zu merges)\n",
              static_cast<long long>(o.train_vocab), o.train_text.empty() ? o.text.c_str() : o.train_text.c_str(),
              train_mb, threads, train_seconds, train_mb / train_seconds, trained.vocab_size(), trained.merges().size());

  std::unique_ptr<data::BpeTokenizer> loaded;
  if (!o.tokenizer.empty()) loaded = std::make_unique<data::BpeTokenizer>(data::load_tokenizer(o.tokenizer));
  const data::BpeTokenizer& tok = loaded ? *loaded : trained;
  const std::string name = loaded ? o.tokenizer : "the trained tokenizer";
  std::vector<int32_t> reference;
  for (int n : {1, threads}) {
    double best = 1e30;
    std::vector<int32_t> ids;
    for (int r = 0; r < o.repeat; ++r) {
      Timer timer;
      ids = tok.encode(text, false, n);
      best = std::min(best, timer.seconds());
    }
    if (reference.empty()) reference = ids;
    if (ids != reference) LAT_THROW("encoding with ", n, " threads gave other ids than with 1");
    std::printf("encode  %s, %d thread%s: %.1f MB/s (%.3f s, %zu tokens, %.2f bytes/token)\n", name.c_str(), n,
                n == 1 ? "" : "s", mb / best, best, ids.size(), static_cast<double>(text.size()) / static_cast<double>(ids.size()));
    if (n == threads) break;
  }
  if (tok.decode(reference) != text) LAT_THROW("decode(encode(text)) differs from the text");
  std::printf("decode(encode(text)) == text\n");
}

Subcommand tokenize("tokenize", "MB/s of BPE training and encoding (1 thread and all threads)", [](CLI::App& sub) {
  auto o = std::make_shared<TokenizeOptions>();
  sub.add_option("--text", o->text, "text file (default data/kjv.txt)");
  sub.add_option("--tokenizer", o->tokenizer, "tokenizer to encode with (default: the one trained here)");
  sub.add_option("--train-text", o->train_text, "file or folder to train on (default: --text)");
  sub.add_option("--train-vocab", o->train_vocab, "vocabulary to train (default 32768)")->check(tools::kPositiveInteger);
  sub.add_option("--repeat", o->repeat, "timed runs per measurement; the best counts (default 3)")
      ->check(tools::kPositiveInteger);
  sub.add_option("--threads", o->threads, "threads for 'all threads' (default: one per core)")->check(tools::kPositiveInteger);
  sub.callback([o] { run(*o); });
});

}  // namespace
}  // namespace lat::bench
