// lat-tokenize: BPE tokenizers and token shards (docs/tokenizers.md).
//
//   lat-tokenize encode --tokenizer FILE --out DIR INPUT...   text files (or folders of them) -> token shards
//   lat-tokenize train --vocab N --out tokenizer.json INPUT... a byte-level BPE trained on the text
//   lat-tokenize decode --tokenizer FILE SHARD                 a shard's tokens back to text, on stdout
//
// encode: every input file is one document, written as the tokenizer's document token (<|endoftext|>, ...)
// and then its ids, into DIR/<prefix>_000000.bin, _000001.bin, ... of --shard-tokens tokens each (data/shards.h:
// uint16 shards for vocabularies up to 65,536 ids, uint32 above, with the document index), and a copy of the
// tokenizer as DIR/tokenizer.json for the recipe's data.tokenizer.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/parallel.h"
#include "core/threads.h"
#include "core/timer.h"
#include "data/bpe_train.h"
#include "data/shards.h"
#include "data/tokenizer_json.h"
#include "tools/cli.h"

namespace {

namespace fs = std::filesystem;
using lat::Error;

// The input files: each named file, and each folder's regular files (sorted, hidden ones skipped).
std::vector<std::string> input_files(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(in, ec))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') found.push_back(e.path().string());
      if (found.empty()) throw Error("input folder '" + in + "' holds no files");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(in, ec)) {
      files.push_back(in);
    } else {
      throw Error("input '" + in + "' " + (fs::exists(in, ec) ? "is not a regular file" : "does not exist"));
    }
  }
  return files;
}

std::string read_input(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open input '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error("error while reading input '" + path + "'");
  return text.str();
}

struct EncodeOptions {
  std::string tokenizer, out, prefix = "shard", format = "auto";
  std::vector<std::string> inputs;
  int64_t shard_tokens = 100000000;
  int threads = 0;
  bool no_index = false;
};

void encode(const EncodeOptions& o) {
  const lat::data::BpeTokenizer tok = lat::data::load_tokenizer(o.tokenizer);
  const std::vector<std::string> files = input_files(o.inputs);
  lat::data::ShardFormat format = tok.vocab_size() > 65536 ? lat::data::ShardFormat::U32 : lat::data::ShardFormat::U16;
  if (o.format == "u32") format = lat::data::ShardFormat::U32;
  if (o.format == "u16") {
    if (tok.vocab_size() > 65536)
      throw Error("--format u16: the tokenizer has " + std::to_string(tok.vocab_size()) + " ids, more than uint16 holds");
    format = lat::data::ShardFormat::U16;
  }
  const std::optional<int32_t> separator = tok.document_token();
  if (!separator && files.size() > 1)
    throw Error("tokenizer '" + o.tokenizer + "' has no document token (<|endoftext|>, <|end_of_text|> or </s>) to separate " +
                std::to_string(files.size()) + " documents");
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec || !fs::is_directory(o.out)) throw Error("--out '" + o.out + "': cannot create the folder");
  for (const auto& e : fs::directory_iterator(o.out, ec))
    if (e.path().filename().string().rfind(o.prefix + "_", 0) == 0 && e.path().extension() == ".bin")
      throw Error("--out '" + o.out + "' already holds shards (" + e.path().filename().string() +
                  "); choose an empty folder or another --prefix");
  const int threads = o.threads > 0 ? o.threads : lat::cpu_threads();
  std::vector<int32_t> shard;
  std::vector<int64_t> starts;
  int shards_written = 0;
  int64_t total_tokens = 0, total_bytes = 0;
  auto flush = [&] {
    char name[32];
    std::snprintf(name, sizeof name, "_%06d.bin", shards_written++);
    lat::data::write_shard((fs::path(o.out) / (o.prefix + name)).string(), shard, format,
                           o.no_index ? std::span<const int64_t>() : std::span<const int64_t>(starts), !o.no_index);
    shard.clear();
    starts.clear();
  };
  lat::Timer timer;
  double encode_seconds = 0;
  // Appends one document (its ids already encoded) to the shards.
  auto append = [&](const std::vector<int32_t>& body) {
    std::vector<int32_t> ids;
    ids.reserve(body.size() + 1);
    if (separator) ids.push_back(*separator);
    ids.insert(ids.end(), body.begin(), body.end());
    total_tokens += static_cast<int64_t>(ids.size());
    for (size_t at = 0; at < ids.size();) {
      if (at == 0) starts.push_back(static_cast<int64_t>(shard.size()));
      const size_t n = std::min(ids.size() - at, static_cast<size_t>(o.shard_tokens) - shard.size());
      shard.insert(shard.end(), ids.begin() + static_cast<ptrdiff_t>(at), ids.begin() + static_cast<ptrdiff_t>(at + n));
      at += n;
      if (static_cast<int64_t>(shard.size()) == o.shard_tokens) flush();
    }
  };
  // Big files are encoded one at a time on all threads (cut where the cut changes nothing); small ones in
  // batches, one file per thread. Either way documents enter the shards in input order.
  constexpr size_t kBigFile = size_t{4} << 20, kBatchBytes = size_t{64} << 20;
  for (size_t f = 0; f < files.size();) {
    std::vector<std::string> texts;
    size_t batch_bytes = 0;
    do {
      texts.push_back(read_input(files[f++]));
      batch_bytes += texts.back().size();
    } while (f < files.size() && texts.back().size() < kBigFile && fs::file_size(files[f], ec) < kBigFile &&
             batch_bytes < kBatchBytes && texts.size() < 4096);
    std::vector<std::vector<int32_t>> bodies(texts.size());
    lat::Timer t;
    if (texts.size() == 1) {
      bodies[0] = tok.encode(texts[0], false, threads);
    } else {
      lat::ParallelErrors errors;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
      for (int64_t i = 0; i < static_cast<int64_t>(texts.size()); ++i)
        errors.run([&] { bodies[static_cast<size_t>(i)] = tok.encode(texts[static_cast<size_t>(i)], false, 1); });
      errors.rethrow();
    }
    encode_seconds += t.seconds();
    for (size_t i = 0; i < texts.size(); ++i) {
      total_bytes += static_cast<int64_t>(texts[i].size());
      append(bodies[i]);
    }
  }
  if (!shard.empty() || shards_written == 0) flush();
  lat::data::save_tokenizer_json(tok, (fs::path(o.out) / "tokenizer.json").string());
  std::printf("lat-tokenize: %zu documents, %lld bytes -> %lld tokens in %d %s shards under %s (encoding %.1f MB/s on %d threads, %.1f s in all)\n",
              files.size(), static_cast<long long>(total_bytes), static_cast<long long>(total_tokens), shards_written,
              format == lat::data::ShardFormat::U32 ? "uint32" : "uint16", o.out.c_str(),
              encode_seconds > 0 ? total_bytes / encode_seconds / 1e6 : 0.0, threads, timer.seconds());
}

struct TrainOptions {
  std::string out, pattern = "cl100k";
  std::vector<std::string> inputs, specials{"<|endoftext|>"};
  int64_t vocab = 0, min_frequency = 2;
  int threads = 0;
};

void train(const TrainOptions& o) {
  const auto pattern = lat::data::split_pattern_from_name(o.pattern);
  if (!pattern) throw Error("--pattern '" + o.pattern + "' is not one of gpt2, cl100k, qwen2");
  std::vector<std::string> texts;
  for (const std::string& file : input_files(o.inputs)) texts.push_back(read_input(file));
  std::vector<std::string_view> views(texts.begin(), texts.end());
  lat::data::BpeTrainOptions options;
  options.vocab_size = o.vocab;
  options.pattern = *pattern;
  options.special_tokens = o.specials;
  options.min_frequency = o.min_frequency;
  options.threads = o.threads > 0 ? o.threads : lat::cpu_threads();
  lat::Timer timer;
  const lat::data::BpeTokenizer tok = lat::data::train_bpe(views, options);
  lat::data::save_tokenizer_json(tok, o.out);
  std::printf("lat-tokenize: trained %d tokens (%zu merges) in %.1f s; wrote %s\n", tok.vocab_size(), tok.merges().size(),
              timer.seconds(), o.out.c_str());
}

void decode(const std::string& tokenizer, const std::string& shard) {
  const lat::data::BpeTokenizer tok = lat::data::load_tokenizer(tokenizer);
  const std::vector<uint32_t> ids = lat::data::read_shard(shard);
  const std::string text = tok.decode(std::vector<int32_t>(ids.begin(), ids.end()));
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  lat::prefer_passive_waiting(argv);  // before anything else: it may re-execute the tool (core/threads.h)
  CLI::App app{"lat-tokenize: train BPE tokenizers and write token shards"};
  app.set_version_flag("--version", std::string("lat ") + LAT_VERSION);
  app.require_subcommand(1);
  EncodeOptions enc;
  CLI::App* e = app.add_subcommand("encode", "text files -> token shards with a document index");
  e->add_option("--tokenizer", enc.tokenizer, "tokenizer.json, or GPT-2's encoder.json (vocab.bpe beside it)")->required();
  e->add_option("--out", enc.out, "output folder for the shards and a copy of the tokenizer")->required();
  e->add_option("inputs", enc.inputs, "text files or folders; each file is one document")->required();
  e->add_option("--shard-tokens", enc.shard_tokens, "tokens per shard (default 100,000,000)")->check(lat::tools::kPositiveInteger);
  e->add_option("--format", enc.format, "auto (uint16 up to 65,536 ids, else uint32), u16 or u32")
      ->check(CLI::IsMember({"auto", "u16", "u32"}));
  e->add_option("--prefix", enc.prefix, "shard file names: <prefix>_000000.bin, ...");
  e->add_option("--threads", enc.threads, "encoding threads (default: one per core)")->check(lat::tools::kPositiveInteger);
  e->add_flag("--no-document-index", enc.no_index, "write plain llm.c shards (no document index)");
  TrainOptions tr;
  CLI::App* t = app.add_subcommand("train", "a byte-level BPE tokenizer from text files");
  t->add_option("--vocab", tr.vocab, "vocabulary size: 256 bytes + merges + special tokens")->required()->check(lat::tools::kPositiveInteger);
  t->add_option("--out", tr.out, "tokenizer.json to write")->required();
  t->add_option("inputs", tr.inputs, "text files or folders")->required();
  t->add_option("--pattern", tr.pattern, "split pattern: cl100k (default; Llama-3's too), gpt2 or qwen2");
  t->add_option("--special", tr.specials, "special tokens, after the merges (default <|endoftext|>)");
  t->add_option("--min-frequency", tr.min_frequency, "pairs seen fewer times are not merged (default 2)")
      ->check(lat::tools::kPositiveInteger);
  t->add_option("--threads", tr.threads, "counting threads (default: one per core)")->check(lat::tools::kPositiveInteger);
  std::string dec_tokenizer, dec_shard;
  CLI::App* d = app.add_subcommand("decode", "a shard's tokens as text, on stdout");
  d->add_option("--tokenizer", dec_tokenizer, "tokenizer.json or encoder.json")->required();
  d->add_option("shard", dec_shard, "token shard (.bin)")->required();
  if (const int rc = lat::tools::parse_command_line(app, argc, argv, "lat-tokenize"); rc >= 0) return rc;
  try {
    if (*e) encode(enc);
    if (*t) train(tr);
    if (*d) decode(dec_tokenizer, dec_shard);
    return 0;
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "lat-tokenize: %s\n", ex.what());
    return 1;
  }
}
