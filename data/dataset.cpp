#include "data/dataset.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/host.h"
#include "data/bpe.h"
#include "data/tokenizer.h"

namespace lat::data {

namespace fs = std::filesystem;

void InMemoryTokens::read(int64_t start, int64_t count, int32_t* out) const {
  LAT_CHECK(start >= 0 && count >= 0 && start + count <= size(), "token range [", start, ", ", start + count,
            ") is outside ", describe(), " of ", size(), " tokens");
  const int32_t* p = tokens_.data() + start;
  for (int64_t i = 0; i < count; ++i) out[i] = p[i];
}

TokenSlice::TokenSlice(std::shared_ptr<const TokenDataset> dataset, int64_t start, int64_t count)
    : dataset_(std::move(dataset)), start_(start), count_(count) {
  LAT_CHECK(dataset_ != nullptr, "token slice: no dataset");
  if (start_ < 0 || count_ < 0 || start_ + count_ > dataset_->size())
    LAT_THROW("token slice [", start_, ", ", start_ + count_, ") is outside ", dataset_->describe(), " of ",
              dataset_->size(), " tokens");
}

void TokenSlice::read(int64_t start, int64_t count, int32_t* out) const {
  LAT_CHECK(start >= 0 && count >= 0 && start + count <= count_, "token range [", start, ", ", start + count,
            ") is outside ", describe(), " of ", count_, " tokens");
  dataset_->read(start_ + start, count, out);
}

std::string TokenSlice::describe() const {
  return "tokens [" + std::to_string(start_) + ", " + std::to_string(start_ + count_) + ") of " +
         dataset_->describe();
}

namespace {

std::string read_whole_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) LAT_THROW("text dataset: '", path, "' does not exist");
  // A device or a pipe (/dev/zero, /dev/stdin) has no end to read to.
  if (!fs::is_regular_file(path, ec)) LAT_THROW("text dataset: '", path, "' is not a regular file");
  // Each byte becomes a 4-byte token beside the text itself while loading.
  const double bytes = static_cast<double>(fs::file_size(path, ec));
  if (!ec && 5 * bytes > host_memory_bytes())
    LAT_THROW("text dataset: '", path, "' holds ", format_bytes(bytes), ", which needs about ", format_bytes(5 * bytes),
              " of memory to load; this machine has ", format_bytes(host_memory_bytes()));
  std::ifstream in(path, std::ios::binary);
  if (!in) LAT_THROW("text dataset: cannot open '", path, "' (", std::strerror(errno), ")");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) LAT_THROW("text dataset: error while reading '", path, "'");
  if (text.empty()) LAT_THROW("text dataset: '", path, "' is empty");
  return text;
}

// The files a text dataset path names: the file, or the folder's regular files (sorted, hidden ones skipped).
std::vector<std::string> text_files(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) LAT_THROW("text dataset: '", path, "' does not exist");
  std::vector<std::string> files;
  if (fs::is_directory(status)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      if (entry.is_regular_file()) files.push_back(entry.path().string());
    }
    if (ec) LAT_THROW("text dataset: cannot list folder '", path, "' (", ec.message(), ")");
    if (files.empty()) LAT_THROW("text dataset: folder '", path, "' holds no files");
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  return files;
}

std::string describe_text(const std::vector<std::string>& files, const std::string& path) {
  return files.size() == 1 ? "text '" + files[0] + "'"
                           : std::to_string(files.size()) + " text files under '" + path + "'";
}

}  // namespace

InMemoryTokens load_text_dataset(const std::string& path) {
  const std::vector<std::string> files = text_files(path);
  std::vector<int32_t> tokens;
  for (size_t f = 0; f < files.size(); ++f) {
    const std::string text = read_whole_file(files[f]);
    if (f > 0) tokens.push_back(ByteTokenizer::kEos);
    tokens.reserve(tokens.size() + text.size());
    for (char c : text) tokens.push_back(static_cast<unsigned char>(c));
  }
  return InMemoryTokens(std::move(tokens), describe_text(files, path));
}

InMemoryTokens load_text_dataset(const std::string& path, const BpeTokenizer& tokenizer, int threads) {
  const std::vector<std::string> files = text_files(path);
  const std::optional<int32_t> separator = tokenizer.document_token();
  std::vector<int32_t> tokens;
  for (const std::string& file : files) {
    const std::string text = read_whole_file(file);
    if (separator) tokens.push_back(*separator);
    else if (files.size() > 1)
      LAT_THROW("text dataset '", path, "': the tokenizer has no document token (<|endoftext|>, <|end_of_text|> or </s>) to separate its ", files.size(), " files");
    const std::vector<int32_t> ids = tokenizer.encode(text, false, threads);
    tokens.insert(tokens.end(), ids.begin(), ids.end());
  }
  return InMemoryTokens(std::move(tokens), describe_text(files, path) + " through a BPE tokenizer");
}

}  // namespace lat::data
