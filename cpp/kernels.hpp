// The hot loops of incremental evaluation, compiled once per x86-64 instruction-set level
// (kernels/*.cpp) and chosen at run time from what the CPU offers, so one build runs on any
// x86-64 and uses AVX-512 where it exists. SEQMAXENT_KERNELS=generic|avx2|avx512 forces a lower
// level (for testing); `kernel_levels()` lists those this CPU can run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace seqmaxent {

constexpr int kLanes = 16;  // floats per kernel vector; rows are padded to a multiple of it

struct Kernels {
  const char* name;
  // y[0, width) += sum_q value[q] * rows[channel[q] * stride + (0, width)]; width a multiple of kLanes.
  void (*sparse_gemv)(const float* value, const uint16_t* channel, int nnz, const float* rows, size_t stride,
                      float* y, int width);
  // Packs the nonzero entries of d[0, n) to its front and their indices into index; returns their count.
  int (*compress_nonzero)(float* d, uint16_t* index, int n);
  // For c < n: old[c] = row[c]; row[c] += add[c].
  void (*save_add)(float* row, float* old, const float* add, int n);
  // d[c] = relu(now[c]) - relu(before[c]) (relu) or now[c] - before[c] (not relu), c < n.
  void (*delta)(const float* now, const float* before, float* d, int n, bool relu);
  // y[m * ldy + (0, n)] += sum_(k < K) a[m * lda + k] * w[k * ldw + (0, n)] for m < M; n a multiple of kLanes.
  void (*gemm)(const float* a, size_t lda, int M, int K, const float* w, size_t ldw, float* y, size_t ldy, int n);
};

const Kernels& kernels();
std::vector<std::string> kernel_levels();

namespace generic { extern const Kernels table; }
#ifdef SEQMAXENT_X86_KERNELS
namespace avx2 { extern const Kernels table; }
namespace avx512 { extern const Kernels table; }
#endif

}  // namespace seqmaxent
