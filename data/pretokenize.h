// Pre-tokenization: the split patterns that byte-level BPE families run before merging, written by hand over
// the three Unicode classes they use (data/unicode_tables.h) instead of a regex engine.
//   gpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   cl100k  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//           \s*[\r\n]+|\s+(?!\S)|\s+                      (tiktoken's cl100k_base; Llama-3 uses it too)
//   qwen2   cl100k with \p{N} instead of \p{N}{1,3}
// \s is the White_Space property (as in Rust's regex, which tiktoken and HF tokenizers' Rust core use).
// Invalid UTF-8: a byte that does not start a well-formed sequence is a piece of its own, and the valid text on
// either side of it is split as if it were a text of its own (it ends there, for the lookahead (?!\S)). No
// reference tokenizer takes invalid UTF-8 (they take Unicode strings); docs/tokenizers.md explains the choice.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lat::data {

enum class SplitPattern { Gpt2, Cl100k, Qwen2 };

// "gpt2", "cl100k", "qwen2", and back (std::nullopt for another name).
const char* split_pattern_name(SplitPattern pattern);
std::optional<SplitPattern> split_pattern_from_name(std::string_view name);
// The regex as tokenizer.json files and tiktoken write it, and back: a pattern lat does not implement gives
// std::nullopt (the caller names it in its error).
const std::string& split_pattern_regex(SplitPattern pattern);
std::optional<SplitPattern> split_pattern_from_regex(std::string_view regex);

// Appends to `ends` the end offset of every piece of text, in order (piece i is [ends[i-1], ends[i]), the first
// starts at 0). The pieces cover the text exactly.
void split_pieces(SplitPattern pattern, std::string_view text, std::vector<uint32_t>& ends);

// A place where any text may be cut without changing its pieces under every pattern: a space between two ASCII
// letters (the piece before ends at the letter, the piece after starts with the space). The first such place at
// or after `from`, or text.size() when there is none.
size_t next_safe_cut(std::string_view text, size_t from);

}  // namespace lat::data
