// Full evaluation: every proposal runs the whole Phi model in ONNX Runtime on the block's
// one-hot batch, mutated in place.
#pragma once

#include <memory>

#include "engine.hpp"

namespace seqmaxent {

std::unique_ptr<BlockEvaluator> make_full_block(const Plan& plan, Ort::Session& session, int n);

}  // namespace seqmaxent
