// The kernels compiled for the generic level (flags in CMakeLists.txt).
#include "impl.hpp"

namespace seqmaxent::generic {
extern const Kernels table = {"generic", sparse_gemv, compress_nonzero, save_add, delta, gemm};
}  // namespace seqmaxent::generic
