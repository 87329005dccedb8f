// Kernel bodies, included by each kernels/<level>.cpp inside its own namespace and compiled with
// that level's flags. Internal linkage only and no library templates, so no code compiled for a
// higher level can be shared with (and run by) a lower one.
#include "../kernels.hpp"

#include <utility>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace {

// One hardware vector of this level, so that every operation is one instruction: GCC splits a
// wider vector type into pieces through the stack (and broadcasts a scalar element by element),
// which ran the AVX2 and SSE2 levels many times slower than AVX-512. Registers: 32 (AVX-512) or
// 16 (AVX2, SSE2); the block sizes below keep accumulators, weights and a broadcast within them.
#if defined(__AVX512F__)
constexpr int kWidth = 16, kGemvVectors = 8, kGemmRows = 6;
#elif defined(__AVX__)
constexpr int kWidth = 8, kGemvVectors = 12, kGemmRows = 2;
#else
constexpr int kWidth = 4, kGemvVectors = 12, kGemmRows = 2;
#endif
constexpr int kGemmVectors = 4;  // columns of a GEMM block, in vectors
static_assert(seqmaxent::kLanes % kWidth == 0, "rows are padded to whole vectors");
typedef float vec __attribute__((vector_size(kWidth * sizeof(float))));
typedef float unaligned_vec __attribute__((vector_size(kWidth * sizeof(float)), aligned(4), may_alias));

inline vec load(const float* p) { return *reinterpret_cast<const unaligned_vec*>(p); }
inline void store(float* p, vec v) { *reinterpret_cast<unaligned_vec*>(p) = v; }

template <int NV>
void gemv_block(const float* __restrict value, const uint16_t* __restrict channel, int nnz,
                const float* __restrict rows, size_t stride, float* __restrict y) {
  vec acc[NV];
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) acc[v] = load(y + v * kWidth);
  for (int q = 0; q < nnz; ++q) {
    const float* row = rows + channel[q] * stride;
    const float a = value[q];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[v] += a * load(row + v * kWidth);
  }
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) store(y + v * kWidth, acc[v]);
}

template <int... NV>
void gemv_blocks(std::integer_sequence<int, NV...>, int vectors, const float* value, const uint16_t* channel,
                 int nnz, const float* rows, size_t stride, float* y) {
  using Block = void (*)(const float*, const uint16_t*, int, const float*, size_t, float*);
  static constexpr Block blocks[] = {gemv_block<NV + 1>...};
  blocks[vectors - 1](value, channel, nnz, rows, stride, y);
}

void sparse_gemv(const float* value, const uint16_t* channel, int nnz, const float* rows, size_t stride, float* y,
                 int width) {
  for (int k = 0; k < width; k += kGemvVectors * kWidth) {
    const int vectors = (width - k) / kWidth < kGemvVectors ? (width - k) / kWidth : kGemvVectors;
    gemv_blocks(std::make_integer_sequence<int, kGemvVectors>(), vectors, value, channel, nnz, rows + k, stride,
                y + k);
  }
}

#if defined(__AVX2__) && !defined(__AVX512F__)
// For each 8-bit mask of nonzero lanes: the lanes to gather to the front, in order.
struct LeftPack {
  uint32_t lanes[256][8] = {};
  constexpr LeftPack() {
    for (int mask = 0; mask < 256; ++mask)
      for (int lane = 0, k = 0; lane < 8; ++lane)
        if (mask >> lane & 1) lanes[mask][k++] = uint32_t(lane);
  }
};
constexpr LeftPack kLeftPack;
#endif

int compress_nonzero(float* __restrict d, uint16_t* __restrict index, int n) {
  int nnz = 0, c = 0;
#if defined(__AVX2__) && !defined(__AVX512F__)
  for (; c + 8 <= n; c += 8) {
    const __m256 v = _mm256_loadu_ps(d + c);
    const int keep = _mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ));
    const __m256i lanes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLeftPack.lanes[keep]));
    const __m256i idx = _mm256_add_epi32(lanes, _mm256_set1_epi32(c));
    // Full 8-wide stores at nnz <= c stay inside [0, c + 8), which the loop has already read.
    _mm256_storeu_ps(d + nnz, _mm256_permutevar8x32_ps(v, lanes));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(index + nnz),
                     _mm_packus_epi32(_mm256_castsi256_si128(idx), _mm256_extracti128_si256(idx, 1)));
    nnz += __builtin_popcount(keep);
  }
#endif
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

template <int MB, int NV>
void gemm_block(const float* __restrict a, size_t lda, int K, const float* __restrict w, size_t ldw,
                float* __restrict y, size_t ldy) {
  vec acc[MB][NV];
#pragma GCC unroll 8
  for (int m = 0; m < MB; ++m)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[m][v] = load(y + m * ldy + v * kWidth);
  for (int k = 0; k < K; ++k) {
    vec wk[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) wk[v] = load(w + k * ldw + v * kWidth);
#pragma GCC unroll 8
    for (int m = 0; m < MB; ++m) {
      const float x = a[m * lda + k];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[m][v] += x * wk[v];
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MB; ++m)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) store(y + m * ldy + v * kWidth, acc[m][v]);
}

template <int MB>
void gemm_rows(const float* a, size_t lda, int K, const float* w, size_t ldw, float* y, size_t ldy, int nv) {
  switch (nv) {
    case 1: gemm_block<MB, 1>(a, lda, K, w, ldw, y, ldy); break;
    case 2: gemm_block<MB, 2>(a, lda, K, w, ldw, y, ldy); break;
    case 3: gemm_block<MB, 3>(a, lda, K, w, ldw, y, ldy); break;
    default: gemm_block<MB, kGemmVectors>(a, lda, K, w, ldw, y, ldy); break;
  }
}

void gemm(const float* a, size_t lda, int M, int K, const float* w, size_t ldw, float* y, size_t ldy, int n) {
  for (int n0 = 0; n0 < n; n0 += kGemmVectors * kWidth) {
    const int nv = (n - n0) / kWidth < kGemmVectors ? (n - n0) / kWidth : kGemmVectors;
    int m = 0;
    for (; m + kGemmRows <= M; m += kGemmRows)
      gemm_rows<kGemmRows>(a + m * lda, lda, K, w + n0, ldw, y + m * ldy + n0, ldy, nv);
    for (; m < M; ++m) gemm_rows<1>(a + m * lda, lda, K, w + n0, ldw, y + m * ldy + n0, ldy, nv);
  }
}

inline float relu(float x) { return x > 0.f ? x : 0.f; }
inline vec relu(vec x) {
  const vec zero = {};
  return x > zero ? x : zero;  // a select, not a branch: signs of random weights are unpredictable
}

void save_add(float* __restrict row, float* __restrict old, const float* __restrict add, int n) {
  int c = 0;
  for (; c + kWidth <= n; c += kWidth) {
    const vec r = load(row + c);
    store(old + c, r);
    store(row + c, r + load(add + c));
  }
  for (; c < n; ++c) {
    old[c] = row[c];
    row[c] += add[c];
  }
}

void delta(const float* __restrict now, const float* __restrict before, float* __restrict d, int n, bool relu_first) {
  int c = 0;
  if (relu_first) {
    for (; c + kWidth <= n; c += kWidth) store(d + c, relu(load(now + c)) - relu(load(before + c)));
    for (; c < n; ++c) d[c] = relu(now[c]) - relu(before[c]);
  } else {
    for (; c + kWidth <= n; c += kWidth) store(d + c, load(now + c) - load(before + c));
    for (; c < n; ++c) d[c] = now[c] - before[c];
  }
}

}  // namespace
