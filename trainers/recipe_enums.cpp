#include "trainers/recipe_enums.h"

namespace lat {

using recipe_enums::enum_name;

const char* to_string(AttentionKind v) {
  return enum_name(v);
}
const char* to_string(FeatureMap v) {
  return enum_name(v);
}
const char* to_string(AttentionNormalize v) {
  return enum_name(v);
}
const char* to_string(AttentionDecay v) {
  return enum_name(v);
}
const char* to_string(ScheduleKind v) {
  return enum_name(v);
}
const char* to_string(DataKind v) {
  return enum_name(v);
}
const char* to_string(DeviceKind v) {
  return enum_name(v);
}
const char* to_string(Precision v) {
  return enum_name(v);
}
const char* to_string(Recompute v) {
  return enum_name(v);
}
const char* to_string(LogLevel v) {
  return enum_name(v);
}

}  // namespace lat
