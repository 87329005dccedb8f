// The kernels compiled for the avx512 level (flags in CMakeLists.txt).
#include "impl.hpp"

namespace seqmaxent::avx512 {
extern const Kernels table = {"avx512", sparse_gemv, compress_nonzero, save_add, delta, gemm};
}  // namespace seqmaxent::avx512
