// Element types a Tensor can hold. CUDA-clean.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/bfloat16.h"

namespace lat {

enum class DType : uint8_t { F32, F64, BF16, I32 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::BF16: return 2;
    case DType::I32: return 4;
  }
  return 0;
}

constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
  }
  return "?";
}

constexpr bool is_floating(DType t) { return t != DType::I32; }

// The type statistics and reductions of a `t` tensor are kept in (norms, softmax, the loss, attention's decay
// and state): bf16 storage accumulates in f32; f32 and f64 accumulate in themselves.
constexpr DType accumulation_dtype(DType t) { return t == DType::BF16 ? DType::F32 : t; }

template <class T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::F64; };
template <> struct DTypeOf<bfloat16> { static constexpr DType value = DType::BF16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };
template <class T> constexpr DType dtype_of = DTypeOf<T>::value;

// Parses "f32", "f64", "bf16", "i32"; throws lat::Error naming the text otherwise.
DType parse_dtype(const std::string& text);

}  // namespace lat
