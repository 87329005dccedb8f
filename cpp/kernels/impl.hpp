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

#ifdef __AVX512F__
constexpr int kRowBlock = 6;  // rows x 4 vectors of accumulators fit the 32 vector registers
#else
constexpr int kRowBlock = 2;
#endif

template <int MB, int NV>
void gemm_block(const float* __restrict a, size_t lda, int K, const float* __restrict w, size_t ldw,
                float* __restrict y, size_t ldy) {
  constexpr int L = seqmaxent::kLanes;
  vec16 acc[MB][NV];
  for (int m = 0; m < MB; ++m)
    for (int v = 0; v < NV; ++v) __builtin_memcpy(&acc[m][v], y + m * ldy + v * L, sizeof(vec16));
  for (int k = 0; k < K; ++k) {
    vec16 wk[NV];
    for (int v = 0; v < NV; ++v) __builtin_memcpy(&wk[v], w + k * ldw + v * L, sizeof(vec16));
    for (int m = 0; m < MB; ++m) {
      const float x = a[m * lda + k];
      for (int v = 0; v < NV; ++v) acc[m][v] += x * wk[v];
    }
  }
  for (int m = 0; m < MB; ++m)
    for (int v = 0; v < NV; ++v) __builtin_memcpy(y + m * ldy + v * L, &acc[m][v], sizeof(vec16));
}

template <int MB>
void gemm_rows(const float* a, size_t lda, int K, const float* w, size_t ldw, float* y, size_t ldy, int nv) {
  switch (nv) {
    case 1: gemm_block<MB, 1>(a, lda, K, w, ldw, y, ldy); break;
    case 2: gemm_block<MB, 2>(a, lda, K, w, ldw, y, ldy); break;
    case 3: gemm_block<MB, 3>(a, lda, K, w, ldw, y, ldy); break;
    default: gemm_block<MB, 4>(a, lda, K, w, ldw, y, ldy); break;
  }
}

void gemm(const float* a, size_t lda, int M, int K, const float* w, size_t ldw, float* y, size_t ldy, int n) {
  constexpr int L = seqmaxent::kLanes;
  for (int n0 = 0; n0 < n; n0 += 4 * L) {
    const int nv = (n - n0) / L < 4 ? (n - n0) / L : 4;
    int m = 0;
    for (; m + kRowBlock <= M; m += kRowBlock) gemm_rows<kRowBlock>(a + m * lda, lda, K, w + n0, ldw, y + m * ldy + n0, ldy, nv);
    for (; m < M; ++m) gemm_rows<1>(a + m * lda, lda, K, w + n0, ldw, y + m * ldy + n0, ldy, nv);
  }
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
