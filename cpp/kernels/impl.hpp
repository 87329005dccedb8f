// Kernel bodies, included by each kernels/<level>.cpp inside its own namespace and compiled with
// that level's flags. Internal linkage only and no library templates, so no code compiled for a
// higher level can be shared with (and run by) a lower one.
#include "../kernels.hpp"

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#endif

namespace {

typedef float vec16 __attribute__((vector_size(64), aligned(4)));

template <int NV>
void gemv_block(const float* __restrict value, const uint16_t* __restrict channel, int nnz,
                const float* __restrict rows, size_t stride, float* __restrict y) {
  vec16 acc[NV];
  for (int v = 0; v < NV; ++v) __builtin_memcpy(&acc[v], y + v * seqmaxent::kLanes, sizeof(vec16));
  for (int q = 0; q < nnz; ++q) {
    const float* row = rows + channel[q] * stride;
    const float a = value[q];
    for (int v = 0; v < NV; ++v) {
      vec16 w;
      __builtin_memcpy(&w, row + v * seqmaxent::kLanes, sizeof(vec16));
      acc[v] += a * w;
    }
  }
  for (int v = 0; v < NV; ++v) __builtin_memcpy(y + v * seqmaxent::kLanes, &acc[v], sizeof(vec16));
}

void sparse_gemv(const float* value, const uint16_t* channel, int nnz, const float* rows, size_t stride, float* y,
                 int width) {
  constexpr int L = seqmaxent::kLanes;
  for (int k = 0; k < width; k += 8 * L) {
    const int vectors = (width - k) / L < 8 ? (width - k) / L : 8;
    const float* r = rows + k;
    float* out = y + k;
    switch (vectors) {
      case 1: gemv_block<1>(value, channel, nnz, r, stride, out); break;
      case 2: gemv_block<2>(value, channel, nnz, r, stride, out); break;
      case 3: gemv_block<3>(value, channel, nnz, r, stride, out); break;
      case 4: gemv_block<4>(value, channel, nnz, r, stride, out); break;
      case 5: gemv_block<5>(value, channel, nnz, r, stride, out); break;
      case 6: gemv_block<6>(value, channel, nnz, r, stride, out); break;
      case 7: gemv_block<7>(value, channel, nnz, r, stride, out); break;
      default: gemv_block<8>(value, channel, nnz, r, stride, out); break;
    }
  }
}

int compress_nonzero(float* __restrict d, uint16_t* __restrict index, int n) {
  int nnz = 0, c = 0;
#if defined(__AVX512F__) && defined(__AVX512BW__)
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (; c + 16 <= n; c += 16) {
    const __m512 v = _mm512_loadu_ps(d + c);
    const __mmask16 keep = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    const __m512i idx = _mm512_add_epi32(lanes, _mm512_set1_epi32(c));
    // Full 16-wide stores at nnz <= c stay inside [0, c + 16), which the loop has already read.
    _mm512_storeu_ps(d + nnz, _mm512_maskz_compress_ps(keep, v));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(index + nnz),
                        _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(keep, idx)));
    nnz += __builtin_popcount(keep);
  }
#endif
  for (; c < n; ++c) {
    const float v = d[c];
    d[nnz] = v;
    index[nnz] = uint16_t(c);
    nnz += (v != 0.f);
  }
  return nnz;
}

inline float relu(float x) { return x > 0.f ? x : 0.f; }

void save_add(float* __restrict row, float* __restrict old, const float* __restrict add, int n) {
#pragma omp simd
  for (int c = 0; c < n; ++c) {
    old[c] = row[c];
    row[c] += add[c];
  }
}

void delta(const float* __restrict now, const float* __restrict before, float* __restrict d, int n, bool relu_first) {
  if (relu_first) {
#pragma omp simd
    for (int c = 0; c < n; ++c) d[c] = relu(now[c]) - relu(before[c]);
  } else {
#pragma omp simd
    for (int c = 0; c < n; ++c) d[c] = now[c] - before[c];
  }
}

}  // namespace
