// The kernels compiled for the avx2 level (flags in CMakeLists.txt).
#include "impl.hpp"

namespace seqmaxent::avx2 {
extern const Kernels table = {"avx2", sparse_gemv, compress_nonzero, save_add, delta, gemm};
}  // namespace seqmaxent::avx2
