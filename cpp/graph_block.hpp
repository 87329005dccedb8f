// Incremental evaluation over the plan's graph of layers (see plan.hpp): per proposal each node
// updates only the rows that the changed base reaches and that Phi needs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine.hpp"

namespace seqmaxent {

struct Graph;  // the plan's nodes prepared for the blocks (shared, read-only)

std::shared_ptr<const Graph> prepare_graph(const Plan& plan);
// A block of n chains; `tail` runs the rest of the network when the core stops before Phi.
std::unique_ptr<BlockEvaluator> make_graph_block(const Plan& plan, const Graph& graph, Ort::Session* tail, int n);
// The path in a line: a chain of layers by name ("conv 19+relu, max_pool 3, dense"), a graph by count.
std::string graph_path(const Plan& plan, const Graph& graph);
std::vector<NodeReport> graph_nodes(const Graph& graph);
// FLOPs of one proposal, averaged over the proposed positions (empty: all), and of a full pass.
Flops graph_flops(const Graph& graph, const std::vector<int>& proposed);
int64_t graph_chain_bytes(const Graph& graph);

}  // namespace seqmaxent
