// tokenizer.json and encoder.json + vocab.bpe, through core/json.
#include "data/tokenizer_json.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "data/unicode_tables.h"

namespace lat::data {
namespace {

namespace fs = std::filesystem;

// byte -> code point of GPT-2's bytes_to_unicode, and the inverse for code points below 0x144.
struct ByteLevelMap {
  uint32_t to_char[256];
  int16_t to_byte[0x144];
  ByteLevelMap() {
    for (auto& b : to_byte) b = -1;
    uint32_t extra = 0;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_char[b] = printable ? b : 256 + extra++;
      to_byte[to_char[b]] = static_cast<int16_t>(b);
    }
  }
};
const ByteLevelMap& byte_map() {
  static const ByteLevelMap m;
  return m;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {  // the map's characters are below U+0800
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string read_file(const std::string& path, const std::string& label) {
  std::error_code ec;
  if (!fs::exists(path, ec)) LAT_THROW(label, ": no such file");
  if (!fs::is_regular_file(path, ec)) LAT_THROW(label, ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) LAT_THROW(label, ": cannot open (", std::strerror(errno), ")");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) LAT_THROW(label, ": error while reading");
  return text.str();
}

bool flag(const Json& object, const char* key, bool fallback, const std::string& where) {
  const Json* v = object.find(key);
  if (!v || v->is_null()) return fallback;
  return v->as_bool(where + "." + key);
}
std::string kind_of(const Json& object, const std::string& where) {
  if (!object.is_object()) LAT_THROW(where, " should be an object");
  const Json* type = object.find("type");
  if (!type) LAT_THROW(where, " has no \"type\"");
  return type->as_string(where + ".type");
}

// pre_tokenizer -> config.pattern and add_prefix_space.
void read_pre_tokenizer(const Json& pre, BpeTokenizer::Config& config) {
  if (pre.is_null()) LAT_THROW("pre_tokenizer is null: lat reads byte-level BPE, whose pre-tokenizer is ByteLevel");
  const std::string type = kind_of(pre, "pre_tokenizer");
  auto byte_level = [&](const Json& b, const std::string& where, bool regex_expected) {
    config.add_prefix_space = flag(b, "add_prefix_space", false, where);
    const bool use_regex = flag(b, "use_regex", true, where);
    if (use_regex != regex_expected)
      LAT_THROW(where, ".use_regex is ", use_regex ? "true" : "false", ", which lat does not support here (",
                regex_expected ? "ByteLevel alone must split with GPT-2's pattern"
                               : "after a Split, ByteLevel must not split again",
                ")");
  };
  if (type == "ByteLevel") {
    byte_level(pre, "pre_tokenizer", true);
    config.pattern = SplitPattern::Gpt2;
    return;
  }
  if (type != "Sequence") LAT_THROW("pre-tokenizer type '", type, "' is not supported (lat reads ByteLevel and Sequence[Split, ByteLevel])");
  const Json& list = pre.at("pretokenizers");
  if (!list.is_array() || list.size() != 2)
    LAT_THROW("pre_tokenizer.pretokenizers should be [Split, ByteLevel], lat supports no other sequence");
  const Json& split = list.items()[0];
  if (kind_of(split, "pre_tokenizer.pretokenizers[0]") != "Split")
    LAT_THROW("pre_tokenizer.pretokenizers[0] should be a Split");
  const Json& pattern = split.at("pattern");
  const Json* regex = pattern.is_object() ? pattern.find("Regex") : nullptr;
  if (!regex) LAT_THROW("pre_tokenizer Split.pattern should be {\"Regex\": ...}");
  const std::string& text = regex->as_string("pre_tokenizer Split.pattern.Regex");
  const auto known = split_pattern_from_regex(text);
  if (!known)
    LAT_THROW("the split pattern '", text, "' is not one lat implements (GPT-2's, cl100k/Llama-3's or Qwen2's)");
  config.pattern = *known;
  const Json* behavior = split.find("behavior");
  if (behavior && behavior->as_string("Split.behavior") != "Isolated")
    LAT_THROW("Split.behavior '", behavior->as_string("Split.behavior"), "' is not supported (only Isolated)");
  if (flag(split, "invert", false, "Split")) LAT_THROW("Split.invert = true is not supported");
  const Json& second = list.items()[1];
  if (kind_of(second, "pre_tokenizer.pretokenizers[1]") != "ByteLevel")
    LAT_THROW("pre_tokenizer.pretokenizers[1] should be ByteLevel");
  byte_level(second, "pre_tokenizer.pretokenizers[1]", false);
}

BpeTokenizer parse(const Json& root) {
  if (!root.is_object()) LAT_THROW("the file is not a JSON object");
  const Json& model = root.at("model");
  const std::string type = kind_of(model, "model");
  if (type != "BPE") LAT_THROW("model type '", type, "' is not supported (lat reads byte-level BPE)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (const Json* v = model.find(key); v && !v->is_null() && !v->as_string(std::string("model.") + key).empty())
      LAT_THROW("model.", key, " is set, which byte-level BPE does not use and lat does not support");
  if (const Json* d = model.find("dropout"); d && !d->is_null() && d->as_double("model.dropout") != 0)
    LAT_THROW("model.dropout is set: BPE dropout makes encoding random, which lat does not support");
  BpeTokenizer::Config config;
  config.ignore_merges = flag(model, "ignore_merges", false, "model");
  if (const Json* n = root.find("normalizer"); n && !n->is_null()) {
    const std::string kind = kind_of(*n, "normalizer");
    if (kind != "NFC") LAT_THROW("normalizer type '", kind, "' is not supported (lat reads none, or NFC)");
    log_warn("tokenizer: the NFC normalizer is not applied; lat expects text that is already NFC");
  }
  read_pre_tokenizer(root.at("pre_tokenizer"), config);

  std::vector<BpeTokenizer::Token> tokens;
  const Json* added_list = root.find("added_tokens");
  const Json& vocab = model.at("vocab");
  if (!vocab.is_object()) LAT_THROW("model.vocab should be an object");
  // Ids are dense in real vocabularies; a far larger id is damage (and would make us allocate for it).
  const int64_t entries = static_cast<int64_t>(vocab.size() + (added_list ? added_list->size() : 0));
  const int64_t id_limit = std::min<int64_t>(2 * entries + 1024, (int64_t{1} << 31) - 1);
  auto slot = [&](int64_t id, const std::string& what) -> BpeTokenizer::Token& {
    if (id < 0 || id >= id_limit)
      LAT_THROW(what, " has id ", id, ", outside [0, ", id_limit, ") for a vocabulary of ", entries, " entries");
    if (static_cast<size_t>(id) >= tokens.size()) tokens.resize(static_cast<size_t>(id) + 1);
    return tokens[static_cast<size_t>(id)];
  };
  if (const Json* added = added_list; added && !added->is_null()) {
    if (!added->is_array()) LAT_THROW("added_tokens should be an array");
    for (const Json& a : added->items()) {
      const std::string& content = a.at("content").as_string("added_tokens[].content");
      const std::string what = "added token '" + content + "'";
      for (const char* key : {"lstrip", "rstrip", "single_word"})
        if (flag(a, key, false, what)) LAT_THROW(what, " sets ", key, ", which lat does not support");
      BpeTokenizer::Token& t = slot(a.at("id").as_int(what + " id"), what);
      if (t.added && t.bytes != content) LAT_THROW(what, " shares its id with added token '", t.bytes, "'");
      if (content.empty()) LAT_THROW("an added token is empty");
      t.bytes = content;
      t.added = true;
      t.special = flag(a, "special", false, what);
      t.in_model_vocab = false;
    }
  }
  for (const auto& [key, value] : vocab.members()) {
    const std::string what = "vocabulary entry '" + key + "'";
    BpeTokenizer::Token& t = slot(value.as_int(what), what);
    if (t.added) {
      if (t.bytes != key) LAT_THROW(what, " shares its id with added token '", t.bytes, "'");
      t.in_model_vocab = true;
      continue;
    }
    if (!t.bytes.empty()) LAT_THROW(what, " shares its id with another entry");
    std::optional<std::string> bytes = byte_level_decode(key);
    if (!bytes || bytes->empty()) LAT_THROW(what, " is not a byte-level token (lat reads byte-level BPE only)");
    t.bytes = std::move(*bytes);
  }
  const Json& merge_list = model.at("merges");
  if (!merge_list.is_array()) LAT_THROW("model.merges should be an array");
  std::unordered_map<std::string, int32_t> vocab_ids;
  vocab_ids.reserve(vocab.size());
  for (const auto& [key, value] : vocab.members()) vocab_ids.emplace(key, static_cast<int32_t>(value.as_int(key)));
  std::vector<std::pair<int32_t, int32_t>> merges;
  merges.reserve(merge_list.size());
  for (size_t r = 0; r < merge_list.size(); ++r) {
    const Json& m = merge_list.items()[r];
    std::string left, right;
    if (m.is_string()) {
      const std::string& s = m.as_string("merge");
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        LAT_THROW("merge ", r, " '", s, "' is not two tokens separated by one space");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2) {
      left = m.items()[0].as_string("merge part");
      right = m.items()[1].as_string("merge part");
    } else {
      LAT_THROW("merge ", r, " should be \"a b\" or [\"a\", \"b\"]");
    }
    auto a = vocab_ids.find(left), b = vocab_ids.find(right);
    if (a == vocab_ids.end() || b == vocab_ids.end())
      LAT_THROW("merge ", r, " '", left, " ", right, "' names a token that is not in model.vocab");
    merges.emplace_back(a->second, b->second);
  }
  return BpeTokenizer(std::move(tokens), std::move(merges), config);
}

// "tokenizer: x" and "x" from the layers below become "<label>: x".
[[noreturn]] void rethrow_with(const std::string& label, const std::exception& e) {
  std::string what = e.what();
  if (what.rfind("tokenizer: ", 0) == 0) what = what.substr(11);
  if (what.rfind(label, 0) == 0) throw Error(what);
  throw Error(label + ": " + what);
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) LAT_THROW("tokenizer '", path, "': cannot open '", tmp, "' for writing (", std::strerror(errno), ")");
    out << text;
    out.flush();
    if (!out) LAT_THROW("tokenizer '", path, "': error while writing '", tmp, "'");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    LAT_THROW("tokenizer '", path, "': cannot rename '", tmp, "' into place (", ec.message(), ")");
  }
}

}  // namespace

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, byte_map().to_char[static_cast<unsigned char>(c)]);
  return out;
}

std::optional<std::string> byte_level_decode(std::string_view text) {
  std::string out;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0; i < text.size();) {
    uint32_t cp = 0;
    const int len = unicode::decode_utf8(s + i, text.size() - i, &cp);
    if (len == 0 || cp >= 0x144 || byte_map().to_byte[cp] < 0) return std::nullopt;
    out += static_cast<char>(byte_map().to_byte[cp]);
    i += static_cast<size_t>(len);
  }
  return out;
}

BpeTokenizer parse_tokenizer_json(const std::string& text, const std::string& source) {
  try {
    return parse(Json::parse(text, source));
  } catch (const Error& e) {
    rethrow_with(source, e);
  }
}

std::string write_tokenizer_json(const BpeTokenizer& t) {
  Json root = Json::object();
  root.set("version", "1.0");
  root.set("truncation", Json());
  root.set("padding", Json());
  Json added = Json::array();
  for (int32_t id = 0; id < t.vocab_size(); ++id) {
    const BpeTokenizer::Token& tok = t.token(id);
    if (!tok.added) continue;
    Json a = Json::object();
    a.set("id", static_cast<int64_t>(id));
    a.set("content", tok.bytes);
    a.set("single_word", false);
    a.set("lstrip", false);
    a.set("rstrip", false);
    a.set("normalized", false);
    a.set("special", tok.special);
    added.push_back(std::move(a));
  }
  root.set("added_tokens", std::move(added));
  root.set("normalizer", Json());
  auto byte_level = [&](bool use_regex) {
    Json b = Json::object();
    b.set("type", "ByteLevel");
    b.set("add_prefix_space", t.config().add_prefix_space);
    b.set("trim_offsets", true);
    b.set("use_regex", use_regex);
    return b;
  };
  if (t.config().pattern == SplitPattern::Gpt2) {
    root.set("pre_tokenizer", byte_level(true));
  } else {
    Json split = Json::object();
    split.set("type", "Split");
    Json pattern = Json::object();
    pattern.set("Regex", split_pattern_regex(t.config().pattern));
    split.set("pattern", std::move(pattern));
    split.set("behavior", "Isolated");
    split.set("invert", false);
    Json list = Json::array();
    list.push_back(std::move(split));
    list.push_back(byte_level(false));
    Json seq = Json::object();
    seq.set("type", "Sequence");
    seq.set("pretokenizers", std::move(list));
    root.set("pre_tokenizer", std::move(seq));
  }
  root.set("post_processor", Json());
  root.set("decoder", byte_level(true));
  Json model = Json::object();
  model.set("type", "BPE");
  model.set("dropout", Json());
  model.set("unk_token", Json());
  model.set("continuing_subword_prefix", Json());
  model.set("end_of_word_suffix", Json());
  model.set("fuse_unk", false);
  model.set("byte_fallback", false);
  model.set("ignore_merges", t.config().ignore_merges);
  Json vocab = Json::object();
  for (int32_t id = 0; id < t.vocab_size(); ++id) {
    const BpeTokenizer::Token& tok = t.token(id);
    if (tok.bytes.empty() || !tok.in_model_vocab) continue;
    vocab.append(tok.added ? tok.bytes : byte_level_encode(tok.bytes), static_cast<int64_t>(id));
  }
  model.set("vocab", std::move(vocab));
  Json merges = Json::array();
  for (const auto& [a, b] : t.merges())
    merges.push_back(byte_level_encode(t.token(a).bytes) + " " + byte_level_encode(t.token(b).bytes));
  model.set("merges", std::move(merges));
  root.set("model", std::move(model));
  return root.dump(2) + "\n";
}

BpeTokenizer read_gpt2_vocabulary(const std::string& encoder_json_path, const std::string& vocab_bpe_path) {
  const std::string label = "tokenizer '" + encoder_json_path + "'";
  try {
    const Json encoder = Json::parse(read_file(encoder_json_path, label), encoder_json_path);
    if (!encoder.is_object()) LAT_THROW("encoder.json should be a JSON object of token -> id");
    Json root = Json::object();
    Json model = Json::object();
    model.set("type", "BPE");
    model.set("vocab", encoder);
    Json merges = Json::array();
    std::istringstream lines(read_file(vocab_bpe_path, "tokenizer '" + vocab_bpe_path + "'"));
    std::string line;
    for (int n = 0; std::getline(lines, line); ++n) {
      if (n == 0 && line.rfind("#version", 0) == 0) continue;
      if (line.empty()) continue;
      merges.push_back(line);
    }
    model.set("merges", std::move(merges));
    root.set("model", std::move(model));
    Json pre = Json::object();
    pre.set("type", "ByteLevel");
    pre.set("add_prefix_space", false);
    root.set("pre_tokenizer", std::move(pre));
    if (const Json* eot = encoder.find("<|endoftext|>")) {
      Json added = Json::array();
      Json a = Json::object();
      a.set("id", *eot);
      a.set("content", "<|endoftext|>");
      a.set("special", true);
      added.push_back(std::move(a));
      root.set("added_tokens", std::move(added));
    }
    return parse(root);
  } catch (const Error& e) {
    rethrow_with(label, e);
  }
}

BpeTokenizer load_tokenizer(const std::string& path) {
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    for (const char* name : {"tokenizer.json", "encoder.json"})
      if (fs::exists(fs::path(path) / name, ec)) {
        file = (fs::path(path) / name).string();
        break;
      }
    if (file == path) LAT_THROW("tokenizer '", path, "': the folder holds neither tokenizer.json nor encoder.json");
  }
  if (fs::path(file).filename() == "encoder.json")
    return read_gpt2_vocabulary(file, (fs::path(file).parent_path() / "vocab.bpe").string());
  const std::string label = "tokenizer '" + file + "'";
  return parse_tokenizer_json(read_file(file, label), label);
}

void save_tokenizer_json(const BpeTokenizer& tokenizer, const std::string& path) {
  write_atomically(path, write_tokenizer_json(tokenizer));
}

}  // namespace lat::data
