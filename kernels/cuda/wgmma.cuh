// Warpgroup-level tensor-core helpers (wgmma, sm_90a PTX): shared-memory matrix descriptors for 128-byte-swizzled
// tiles, the fence / commit / wait protocol, and the bf16 → fp32 shapes the Lightning Attention-2 sweeps use.
// Compiled only for the arch-specific target (__CUDA_ARCH_FEAT_SM90_ALL); see lightning_attention_wgmma.cu.
#pragma once

#include <cstdint>

namespace lat::kernels::cuda {

// Descriptor of a 128-byte-swizzled operand at shared address `addr` (PTX "matrix descriptor"): lbo / sbo in bytes.
// K-major: rows of 128 bytes (64 bf16 of K), 8-row groups sbo apart (lbo unused). MN-major: 64 contiguous MN
// elements per 128-byte row, rows along K, 8-row groups sbo apart and the next 64 MN elements lbo away.
__device__ __forceinline__ uint64_t wgmma_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) | (static_cast<uint64_t>((lbo >> 4) & 0x3FFFu) << 16) |
         (static_cast<uint64_t>((sbo >> 4) & 0x3FFFu) << 32) | (uint64_t{1} << 62);
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving accesses of accumulator registers across wgmma_wait.
template <int N>
__device__ __forceinline__ void wgmma_fence_operands(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// The accumulator operands of one thread: 32 (m64n64) or 64 (m64n128) fp32 registers.
#define LAT_WGMMA_F8(d, i) \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), \
      "+f"(d[i + 7])
#define LAT_WGMMA_F32(d) LAT_WGMMA_F8(d, 0), LAT_WGMMA_F8(d, 8), LAT_WGMMA_F8(d, 16), LAT_WGMMA_F8(d, 24)
#define LAT_WGMMA_F64(d) \
  LAT_WGMMA_F32(d), LAT_WGMMA_F8(d, 32), LAT_WGMMA_F8(d, 40), LAT_WGMMA_F8(d, 48), LAT_WGMMA_F8(d, 56)
#define LAT_WGMMA_R32 \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15," \
  " %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"
#define LAT_WGMMA_R64 \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15," \
  " %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31," \
  " %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47," \
  " %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

// D (64 × 64) = A Bᵀ (+ D when accumulate): A and B K-major from shared memory.
__device__ __forceinline__ void wgmma_m64n64k16_ss(float (&d)[32], uint64_t a, uint64_t b, int accumulate) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " LAT_WGMMA_R32
               ", %32, %33, p, 1, 1, 0, 0;\n}\n"
               : LAT_WGMMA_F32(d)
               : "l"(a), "l"(b), "r"(accumulate));
}
// D (64 × 128) = A B (+ D when accumulate), A K-major from shared memory, B from shared memory: K-major (B is
// given as Bᵀ's rows, TRANS_B = 0) or MN-major (TRANS_B = 1).
template <int TRANS_B>
__device__ __forceinline__ void wgmma_m64n128k16_ss(float (&d)[64], uint64_t a, uint64_t b, int accumulate) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " LAT_WGMMA_R64
               ", %64, %65, p, 1, 1, 0, %67;\n}\n"
               : LAT_WGMMA_F64(d)
               : "l"(a), "l"(b), "r"(accumulate), "n"(TRANS_B));
}
// D (64 × 128) += A B: A from registers (the mma.m16n8k16 A fragment of the warp's 16 rows), B MN-major from
// shared memory.
__device__ __forceinline__ void wgmma_m64n128k16_rs_tb(float (&d)[64], const uint32_t (&a)[4], uint64_t b) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " LAT_WGMMA_R64
               ", {%64, %65, %66, %67}, %68, 1, 1, 1, 1;\n"
               : LAT_WGMMA_F64(d)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}

#undef LAT_WGMMA_F8
#undef LAT_WGMMA_F32
#undef LAT_WGMMA_F64
#undef LAT_WGMMA_R32
#undef LAT_WGMMA_R64

}  // namespace lat::kernels::cuda
