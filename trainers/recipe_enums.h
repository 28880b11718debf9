// The spellings of the recipe's enum values, one table per enum: parsing, to_toml(), the "expected ..."
// lists in messages and to_string() all read them.
#pragma once

#include <iterator>
#include <string>
#include <utility>

#include "trainers/recipe.h"

namespace lat::recipe_enums {

template <class E>
struct EnumNames;
template <>
struct EnumNames<AttentionKind> {
  static constexpr std::pair<const char*, AttentionKind> values[] = {{"softmax", AttentionKind::Softmax},
                                                                     {"linear", AttentionKind::Linear}};
};
template <>
struct EnumNames<FeatureMap> {
  static constexpr std::pair<const char*, FeatureMap> values[] = {{"elu1", FeatureMap::Elu1},
                                                                  {"cosine", FeatureMap::Cosine},
                                                                  {"random", FeatureMap::Random},
                                                                  {"identity", FeatureMap::Identity},
                                                                  {"silu", FeatureMap::Silu}};
};
template <>
struct EnumNames<AttentionNormalize> {
  static constexpr std::pair<const char*, AttentionNormalize> values[] = {
      {"denominator", AttentionNormalize::Denominator}, {"rmsnorm", AttentionNormalize::RmsNorm}};
};
template <>
struct EnumNames<AttentionDecay> {
  static constexpr std::pair<const char*, AttentionDecay> values[] = {{"none", AttentionDecay::None},
                                                                      {"alibi", AttentionDecay::Alibi}};
};
template <>
struct EnumNames<ScheduleKind> {
  static constexpr std::pair<const char*, ScheduleKind> values[] = {{"constant", ScheduleKind::Constant},
                                                                    {"linear", ScheduleKind::Linear},
                                                                    {"cosine", ScheduleKind::Cosine}};
};
template <>
struct EnumNames<DataKind> {
  static constexpr std::pair<const char*, DataKind> values[] = {
      {"text", DataKind::Text}, {"shards", DataKind::Shards}, {"mqar", DataKind::Mqar}};
};
template <>
struct EnumNames<DeviceKind> {
  static constexpr std::pair<const char*, DeviceKind> values[] = {
      {"cpu", DeviceKind::Cpu}, {"cuda", DeviceKind::Cuda}, {"auto", DeviceKind::Auto}};
};
template <>
struct EnumNames<Precision> {
  static constexpr std::pair<const char*, Precision> values[] = {
      {"auto", Precision::Auto}, {"fp32", Precision::Fp32}, {"bf16", Precision::Bf16}};
};
template <>
struct EnumNames<Recompute> {
  static constexpr std::pair<const char*, Recompute> values[] = {{"none", Recompute::None},
                                                                 {"block", Recompute::Block},
                                                                 {"attention", Recompute::Attention},
                                                                 {"mlp", Recompute::Mlp}};
};
template <>
struct EnumNames<LogLevel> {
  static constexpr std::pair<const char*, LogLevel> values[] = {{"debug", LogLevel::Debug},
                                                                {"info", LogLevel::Info},
                                                                {"warn", LogLevel::Warn},
                                                                {"error", LogLevel::Error},
                                                                {"off", LogLevel::Off}};
};

template <class E>
const char* enum_name(E v) {
  for (const auto& [name, value] : EnumNames<E>::values)
    if (value == v) return name;
  return "?";
}

template <class E>
std::string enum_choices() {
  std::string out;
  constexpr size_t n = std::size(EnumNames<E>::values);
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += i + 1 == n ? " or " : ", ";
    out += EnumNames<E>::values[i].first;
  }
  return out;
}

}  // namespace lat::recipe_enums
