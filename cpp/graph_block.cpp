#include "graph_block.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>

#include "kernels.hpp"
#include "ort_call.hpp"

namespace seqmaxent {

namespace {

int round_up(int n, int m) { return (n + m - 1) / m * m; }
int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
// log(1 + e^x) without overflow for large x.
float softplus(float x) { return x > 20.f ? x : std::log1p(std::exp(x)); }

class Elementwise {
 public:
  Elementwise(const std::vector<Step>& steps, int width) : width_(width) {
    for (const Step& s : steps) {
      Op op{s.kind, s.alpha, std::vector<float>(width, 0.f), std::vector<float>(width, 0.f)};
      std::copy(s.scale.begin(), s.scale.end(), op.scale.begin());
      std::copy(s.shift.begin(), s.shift.end(), op.shift.begin());
      ops_.push_back(std::move(op));
    }
  }
  bool relu_only() const { return ops_.size() == 1 && ops_[0].kind == Step::Kind::relu; }
  bool identity() const { return ops_.empty(); }
  int size() const { return int(ops_.size()); }
  // out[0, width) = f(in[0, width)); out may be in.
  void apply(const float* in, float* out) const {
    if (in != out) std::copy_n(in, width_, out);
    for (const Op& op : ops_) {
      const int n = width_;
      switch (op.kind) {
        case Step::Kind::relu:
#pragma omp simd
          for (int c = 0; c < n; ++c) out[c] = out[c] > 0.f ? out[c] : 0.f;
          break;
        case Step::Kind::leaky_relu:
          for (int c = 0; c < n; ++c) out[c] = out[c] > 0.f ? out[c] : op.alpha * out[c];
          break;
        case Step::Kind::sigmoid:
          for (int c = 0; c < n; ++c) out[c] = 1.f / (1.f + std::exp(-out[c]));
          break;
        case Step::Kind::tanh:
          for (int c = 0; c < n; ++c) out[c] = std::tanh(out[c]);
          break;
        case Step::Kind::exp:
          for (int c = 0; c < n; ++c) out[c] = std::exp(out[c]);
          break;
        case Step::Kind::softplus:
          for (int c = 0; c < n; ++c) out[c] = softplus(out[c]);
          break;
        case Step::Kind::elu:
          for (int c = 0; c < n; ++c) out[c] = out[c] > 0.f ? out[c] : op.alpha * std::expm1(out[c]);
          break;
        case Step::Kind::erf:
          for (int c = 0; c < n; ++c) out[c] = std::erf(out[c]);
          break;
        case Step::Kind::silu:
          for (int c = 0; c < n; ++c) out[c] = out[c] / (1.f + std::exp(-op.alpha * out[c]));
          break;
        case Step::Kind::gelu:
          for (int c = 0; c < n; ++c) out[c] = 0.5f * out[c] * (1.f + std::erf(out[c] * 0.70710678118654752f));
          break;
        case Step::Kind::mish:
          for (int c = 0; c < n; ++c) out[c] = out[c] * std::tanh(softplus(out[c]));
          break;
        case Step::Kind::affine:
#pragma omp simd
          for (int c = 0; c < n; ++c) out[c] = op.scale[c] * out[c] + op.shift[c];
          break;
      }
    }
  }

 private:
  struct Op {
    Step::Kind kind;
    float alpha;
    std::vector<float> scale, shift;
  };
  int width_;
  std::vector<Op> ops_;
};

// Rows first, first + step, ... below last of a node's output (none when first >= last). Held
// tight: last is one past the last row. Phi often reads only some rows of a dilated conv's
// output, which read only every dilation-th row of its input: a node keeps and updates only
// the rows of its lattice.
struct Rows {
  int first = 0, last = 0, step = 1;
  bool empty() const { return first >= last; }
  int size() const { return empty() ? 0 : (last - first - 1) / step + 1; }
  bool has(int j) const { return j >= first && j < last && (j - first) % step == 0; }
  int index(int j) const { return (j - first) / step; }  // row j's place among the rows
  Rows shifted(int by) const { return {first + by, last + by, step}; }
  // The rows in [lo, hi).
  Rows clip(int lo, int hi) const {
    Rows r{first, std::min(last, hi), step};
    if (lo > first) r.first = first + (lo - first + step - 1) / step * step;
    return r.tight();
  }
  // The smallest lattice holding both.
  Rows hull(Rows o) const {
    if (empty()) return o;
    if (o.empty()) return *this;
    const int g = std::gcd(std::gcd(size() > 1 ? step : 0, o.size() > 1 ? o.step : 0), std::abs(first - o.first));
    return Rows{std::min(first, o.first), std::max(last, o.last), std::max(g, 1)}.tight();
  }

 private:
  Rows tight() const { return empty() ? *this : Rows{first, first + (size() - 1) * step + 1, step}; }
};

bool windowed(Node::Kind k) { return k == Node::Kind::conv || k == Node::Kind::max_pool || k == Node::Kind::avg_pool; }

// Output rows of a conv or pool whose window reaches input rows `in`.
Rows reach(const Node& y, Rows in) {
  const int span = (y.width - 1) * y.dilation;
  const int first = floor_div(in.first + y.pad_left - span + y.stride - 1, y.stride);
  const int last = floor_div(in.last - 1 + y.pad_left, y.stride) + 1;
  return Rows{first, last}.clip(0, y.length);
}

// Input rows (of `length`) that a conv or pool reads for its output rows `out`.
Rows window_of(const Node& y, Rows out, int length) {
  if (out.empty()) return {};
  const int step = std::gcd(out.size() > 1 ? out.step * y.stride : 0, y.width > 1 ? y.dilation : 0);
  return Rows{out.first * y.stride - y.pad_left, (out.last - 1) * y.stride - y.pad_left + (y.width - 1) * y.dilation + 1,
              std::max(step, 1)}
      .clip(0, length);
}

// A conv on the one-hot input in a form for single-base updates: for each input row, the
// outputs (output index, tap) whose window covers it, in increasing output order, and per tap
// the weight change of each base swap.
class FirstConv {
 public:
  FirstConv(const Node& conv, const Edge& in, int padded)
      : conv_(conv), in_(in), Cp_(padded), first_(in.length + 1) {
    const int C = conv.channels, W = conv.width;
    delta_.assign(size_t(W) * 16 * Cp_, 0.f);
    for (int q = 0; q < in.length; ++q) {
      first_[q] = int(taps_.size());
      for (int t = W - 1; t >= 0; --t) {  // output index grows as the tap shrinks
        const int a = q + conv.pad_left - t * conv.dilation;
        if (a >= 0 && a % conv.stride == 0 && a / conv.stride < conv.length) taps_.push_back({a / conv.stride, t});
      }
    }
    first_[in.length] = int(taps_.size());
    for (int t = 0; t < W; ++t)
      for (int a = 0; a < kBases; ++a)
        for (int b = 0; b < kBases; ++b)
          for (int c = 0; c < C; ++c) delta_[((size_t(t) * 16) + a * 4 + b) * Cp_ + c] = weight(c, b, t) - weight(c, a, t);
  }
  struct Tap {
    int out, tap;
  };
  // The taps of sequence position p, or none when the conv does not read it.
  const Tap* begin(int p) const { return taps_.data() + first_[row(p)]; }
  const Tap* end(int p) const { return taps_.data() + first_[row(p) + 1]; }
  // Change of output channel c (contiguous over c, padded with zeros) for tap t when a base goes from a to b.
  const float* delta(int t, int a, int b) const { return delta_.data() + ((size_t(t) * 16) + a * 4 + b) * Cp_; }
  // Output rows `rows` of one sequence into y (row j at y + rows.index(j) * stride, channels first).
  void compute(const uint8_t* codes, Rows rows, float* y, int stride) const {
    const int C = conv_.channels;
    for (int j = rows.first; j < rows.last; j += rows.step) {
      float* yj = y + size_t(rows.index(j)) * stride;
      std::fill_n(yj, stride, 0.f);
      std::copy_n(conv_.bias.data(), C, yj);
      for (int t = 0; t < conv_.width; ++t) {
        const int q = j * conv_.stride - conv_.pad_left + t * conv_.dilation;
        if (q < 0 || q >= in_.length || codes[q + in_.offset] == kUnknown) continue;  // padding and N add nothing
        const int b = codes[q + in_.offset];
        for (int c = 0; c < C; ++c) yj[c] += weight(c, b, t);
      }
    }
  }

 private:
  // The edge row of position p (length: a position the conv does not read, which has no taps).
  int row(int p) const {
    const int q = p - in_.offset;
    return q < 0 || q >= in_.length ? in_.length : q;
  }
  float weight(int c, int b, int t) const { return conv_.weight[(size_t(c) * kBases + b) * conv_.width + t]; }
  const Node& conv_;
  const Edge& in_;
  int Cp_;
  std::vector<Tap> taps_;
  std::vector<int> first_;
  std::vector<float> delta_;
};


std::string describe(const Node& y) {
  return node_name(y.kind) + (windowed(y.kind) ? " " + std::to_string(y.width) : "");
}

}  // namespace

struct Graph {
  struct In {
    int node, offset, length;
    Elementwise map;  // padded to the producer's padded channels
    // The producer's rows `r` as this edge's reader numbers them (row q is the producer's q + offset).
    Rows read(Rows r) const { return r.shifted(-offset).clip(0, length); }
  };
  struct Prepared {
    const Node& node;
    int C, Cp;
    Rows need;
    int window = 0;
    std::vector<In> in;
    std::vector<float> rows;  // conv: weight as (width, in channels, Cp); dense: (in rows, in channels, Cp)
    std::optional<FirstConv> first;
    bool used() const { return !need.empty(); }
  };

  explicit Graph(const Plan& plan)
      : length(plan.length), tail(!plan.tail_model.empty()), output(edge(plan, plan.output)) {
    for (const Node& y : plan.nodes) {
      const int Cp = round_up(y.channels, kLanes);
      Prepared p{y, y.channels, Cp, {}, 0, {}, {}, {}};
      for (const Edge& e : y.inputs) p.in.push_back(edge(plan, e));
      const int Cin = y.inputs.empty() ? 0 : plan.nodes[y.inputs[0].node].channels;
      if (y.kind == Node::Kind::conv && y.inputs[0].node == 0) {
        p.first.emplace(y, y.inputs[0], Cp);
      } else if (y.kind == Node::Kind::conv) {
        p.rows.assign(size_t(y.width) * Cin * Cp, 0.f);
        for (int co = 0; co < y.channels; ++co)
          for (int ci = 0; ci < Cin; ++ci)
            for (int t = 0; t < y.width; ++t)
              p.rows[(size_t(t) * Cin + ci) * Cp + co] = y.weight[(size_t(co) * Cin + ci) * y.width + t];
      } else if (y.kind == Node::Kind::dense) {
        const int rows = y.inputs[0].length;
        p.rows.assign(size_t(rows) * Cin * Cp, 0.f);
        for (int co = 0; co < y.channels; ++co)
          for (size_t k = 0; k < size_t(rows) * Cin; ++k) p.rows[k * Cp + co] = y.weight[co * size_t(rows) * Cin + k];
      }
      nodes.push_back(std::move(p));
    }
    // What Phi reads, then each node's needs, from the output back to the input.
    const Prepared& out = nodes[plan.output.node];
    if (tail) {
      nodes[plan.output.node].need = {0, out.node.length};
      tail_pos.resize(plan.tail_index.size());
      for (size_t e = 0; e < plan.tail_index.size(); ++e) tail_pos[plan.tail_index[e]] = int32_t(e);
    } else {
      std::map<int, int> slot;
      for (int32_t e : plan.phi_index) slot.emplace(e / out.C, 0);
      for (auto& [r, s] : slot) s = int(out_rows.size()), out_rows.push_back(r);
      for (int32_t e : plan.phi_index) phi_slot.push_back(slot[e / out.C] * out.Cp + e % out.C);
      Rows need;
      for (const int r : out_rows) need = need.hull(Rows{r, r + 1});
      nodes[plan.output.node].need = need.clip(0, output.length).shifted(output.offset);
    }
    for (size_t k = nodes.size() - 1; k >= 1; --k) {
      const Prepared& y = nodes[k];
      if (!y.used()) continue;
      for (const In& e : y.in) {
        Rows q = y.node.kind == Node::Kind::dense ? Rows{0, e.length}
                 : windowed(y.node.kind)          ? window_of(y.node, y.need, e.length)
                                                  : y.need.clip(0, e.length);
        nodes[e.node].need = nodes[e.node].need.hull(q.shifted(e.offset));
      }
    }
    nodes[0].need = {0, length};
    std::vector<Rows> changed(nodes.size());
    for (int p = 0; p < length; ++p) {
      changed_by(p, changed);
      for (size_t k = 1; k < nodes.size(); ++k) nodes[k].window = std::max(nodes[k].window, changed[k].size());
    }
  }

  // Rows of node k that change when its producers' rows of(producer) do (within what is needed).
  template <class Of>
  Rows changed_rows(size_t k, Of&& of) const {
    const Prepared& y = nodes[k];
    Rows r;
    for (const In& e : y.in) {
      const Rows q = e.read(of(e.node));
      if (q.empty()) continue;
      r = r.hull(windowed(y.node.kind) ? reach(y.node, q) : y.node.kind == Node::Kind::dense ? Rows{0, 1} : q);
    }
    return r.empty() ? Rows{} : y.need.clip(r.first, r.last);
  }
  // Every node's changed rows for a change at position p.
  void changed_by(int p, std::vector<Rows>& changed) const {
    changed[0] = {p, p + 1};
    for (size_t k = 1; k < nodes.size(); ++k)
      changed[k] = nodes[k].used() ? changed_rows(k, [&](int n) { return changed[n]; }) : Rows{};
  }

  // Multiply-adds x 2, plus adds, compares and elementwise ops, of one proposal, averaged over the
  // proposed positions (0-based; empty: every input position).
  Flops flops(const std::vector<int>& proposed) const {
    Flops f;
    std::vector<Rows> changed(nodes.size());
    for (size_t k = 1; k < nodes.size(); ++k) {
      const Prepared& y = nodes[k];
      const Node& n = y.node;
      const In& e = y.in[0];
      const double Cin = nodes[e.node].C;
      double maps = 0.0;
      for (const In& i : y.in) maps += double(i.map.size()) * nodes[i.node].C * i.length;
      if (n.kind == Node::Kind::conv) f.full += 2.0 * n.length * y.C * Cin * n.width + maps;
      if (n.kind == Node::Kind::dense) f.full += 2.0 * y.C * e.length * Cin + maps;
      if (n.kind == Node::Kind::max_pool || n.kind == Node::Kind::avg_pool) f.full += double(n.length) * y.C * n.width + maps;
      if (n.kind == Node::Kind::add) f.full += double(n.length) * y.C * (double(y.in.size()) - 1.0) + maps;
    }
    std::vector<int> positions = proposed;
    if (positions.empty()) positions.resize(length), std::iota(positions.begin(), positions.end(), 0);
    for (const int p : positions) {
      if (p < 0 || p >= length)
        throw std::invalid_argument("flops: position " + std::to_string(p) + " is outside the input (0-based, 0-" +
                                    std::to_string(length - 1) + ")");
      changed_by(p, changed);
      for (size_t k = 1; k < nodes.size(); ++k) {
        const Prepared& y = nodes[k];
        const Rows r = changed[k];
        if (r.empty()) continue;
        const Node& n = y.node;
        const In& e = y.in[0];
        const double Cin = nodes[e.node].C;
        const Rows q = e.read(changed[e.node]);
        const double delta = (e.map.size() + 1.0) * Cin;  // one changed input row's change
        if (y.first) {
          for (const FirstConv::Tap* t = y.first->begin(p); t != y.first->end(p); ++t) f.incremental += r.has(t->out) * y.C;
        } else if (n.kind == Node::Kind::conv) {
          // Output j in r reads input row j * stride - shift (in q) through tap t.
          f.incremental += q.size() * delta;
          for (int t = 0; t < n.width; ++t) {
            const int shift = n.pad_left - t * n.dilation;
            const Rows j = r.clip(floor_div(q.first + shift - 1, n.stride) + 1, floor_div(q.last - 1 + shift, n.stride) + 1);
            f.incremental += double(j.size()) * 2.0 * Cin * y.C;
          }
        } else if (n.kind == Node::Kind::dense) {
          f.incremental += q.size() * (delta + 2.0 * Cin * y.C);
        } else if (n.kind == Node::Kind::add) {
          for (const In& i : y.in) f.incremental += double(r.size()) * y.C * (i.map.size() + 1.0);
        } else {
          f.incremental += double(r.size()) * y.C * n.width * (e.map.size() + 1.0);
        }
      }
    }
    f.incremental /= double(positions.size());
    return f;
  }

  int64_t chain_bytes() const {
    int64_t floats = 0;
    for (const Prepared& y : nodes)
      if (&y != &nodes[0] && y.used()) floats += int64_t(y.need.size() + y.window) * y.Cp;
    return floats * int64_t(sizeof(float));
  }

  int length;
  bool tail;
  In output;
  std::vector<Prepared> nodes;
  std::vector<int> out_rows;      // the output's edge rows that Phi reads, ascending
  std::vector<int32_t> phi_slot;  // per Phi unit: its place in those rows' mapped values (row slot * Cp + channel)
  std::vector<int32_t> tail_pos;  // per entry row * C + c of the tail's node: its element in the tail input

 private:
  static In edge(const Plan& plan, const Edge& e) {
    const int Cp = round_up(plan.nodes.empty() ? 1 : plan.nodes[e.node].channels, kLanes);
    return In{e.node, e.offset, e.length, Elementwise(e.map, Cp)};
  }
};


namespace {

// Every node's rows of each chain, updated in place per proposal: a node recomputes only the
// rows that a changed row of its inputs reaches and that Phi needs (fastISM's idea, over a
// graph). Convs and dense layers add their weights times the (sparse) changes of their inputs;
// pools and sums recompute their changed rows exactly. Rows that come out unchanged are
// trimmed from what later nodes see. Old rows are saved and put back for rejected proposals.
//
// Nodes run one after another over the whole block so that each node's weights are read from
// cache for all chains. A dense update is ordered by input row, so each block of its weights is
// read once per step and shared by every chain whose change reaches that row. Each chain's own
// sums always run in the same order, so results do not depend on how chains are grouped.
class GraphBlock final : public BlockEvaluator {
 public:
  GraphBlock(const Plan& plan, const Graph& g, Ort::Session* tail, int n)
      : n_(n), P_(plan.phi_dim), g_(g), k_(kernels()), state_(g.nodes.size()) {
    int widest = 0, rows = 1;
    for (size_t k = 0; k < g.nodes.size(); ++k) {
      const Graph::Prepared& y = g.nodes[k];
      State& s = state_[k];
      s.range.assign(n, Range{});
      widest = std::max(widest, y.Cp);
      if (k == 0 || !y.used()) continue;
      s.y.assign(size_t(n) * y.need.size() * y.Cp, 0.f);
      s.saved.assign(size_t(n) * std::max(y.window, 1) * y.Cp, 0.f);
      if (y.node.kind == Node::Kind::dense) {
        by_row_.resize(std::max(by_row_.size(), size_t(n) * std::max(g.nodes[y.in[0].node].window, 1)));
        first_.resize(std::max(first_.size(), size_t(y.in[0].length) + 1));
      }
      if (y.node.kind == Node::Kind::conv || y.node.kind == Node::Kind::dense) rows = std::max(rows, y.in[0].length);
      if (y.node.kind == Node::Kind::conv && !y.first)
        changes_.resize(std::max(changes_.size(), size_t(g.nodes[y.in[0].node].window) * g.nodes[y.in[0].node].Cp));
      if (y.node.kind == Node::Kind::dense && y.in[0].length == 1)
        changes_.resize(std::max(changes_.size(), size_t(n) * g.nodes[y.in[0].node].Cp));
    }
    d_.assign(widest, 0.f), tmp_.assign(widest, 0.f);
    ch_.assign(widest, 0);
    act_.assign(size_t(rows) * widest, 0.f), act_channel_.assign(size_t(rows) * widest, 0), act_nonzero_.assign(rows, 0);
    phi_.assign(size_t(n) * P_, 0.f);
    const Graph::Prepared& out = g.nodes[g.output.node];
    if (tail) {
      x_tail_.assign(size_t(n) * out.C * out.node.length, 0.f);
      call_.emplace(*tail, x_tail_.data(), plan.tail_shape, n, phi_.data(), P_);
    } else {
      out_mapped_.assign(g.out_rows.size() * out.Cp, 0.f);
    }
  }

  const float* reset(const uint8_t* codes) override {
    for (int i = 0; i < n_; ++i) {
      for (size_t k = 1; k < g_.nodes.size(); ++k)
        if (g_.nodes[k].used()) compute(k, i, codes + size_t(i) * g_.length);
      write_output(i, g_.nodes[g_.output.node].need);
    }
    if (call_) call_->run();
    return phi_.data();
  }

  const float* propose(const Mutation* m) override {
    for (int i = 0; i < n_; ++i) state_[0].range[i] = {m[i].position, m[i].position + 1, m[i].position, m[i].position + 1};
    // Runs of nodes other than dense layers chain by chain (a chain's changed rows stay in
    // cache from node to node); dense layers over all chains at once (sharing weight reads).
    for (size_t k = 1; k < g_.nodes.size();) {
      if (g_.nodes[k].node.kind == Node::Kind::dense) {
        if (g_.nodes[k].used()) propose_dense(k);
        ++k;
        continue;
      }
      size_t end = k;
      while (end < g_.nodes.size() && g_.nodes[end].node.kind != Node::Kind::dense) ++end;
      for (int i = 0; i < n_; ++i)
        for (size_t j = k; j < end; ++j)
          if (g_.nodes[j].used()) propose_node(j, i, m[i]);
      k = end;
    }
    for (int i = 0; i < n_; ++i) write_output(i, changed(g_.output.node, i));
    if (call_) call_->run();
    return phi_.data();
  }

  void commit(const Mutation*, const uint8_t* accepted) override {
    for (int i = 0; i < n_; ++i) {
      if (accepted[i]) continue;
      for (size_t k = 1; k < g_.nodes.size(); ++k) {
        const Rows r = saved_rows(k, i);
        if (!r.empty()) std::copy_n(saved(k, i), size_t(r.size()) * g_.nodes[k].Cp, row(k, i, r.first));
      }
      if (call_) write_output(i, saved_rows(g_.output.node, i));
    }
  }

 private:
  // Rows [first, last) of a node changed for later nodes; rows [base, end) were saved (on the
  // node's lattice: saved row k is row base + k * step).
  struct Range {
    int first = 0, last = 0, base = 0, end = 0;
  };
  struct State {
    std::vector<float> y, saved;  // per chain: the node's needed rows; its saved rows
    std::vector<Range> range;
  };

  float* row(size_t k, int i, int j) {
    const Graph::Prepared& y = g_.nodes[k];
    return state_[k].y.data() + (size_t(i) * y.need.size() + size_t(y.need.index(j))) * y.Cp;
  }
  float* saved(size_t k, int i) { return state_[k].saved.data() + size_t(i) * std::max(g_.nodes[k].window, 1) * g_.nodes[k].Cp; }
  // Row j of node k of chain i as it was before this proposal.
  const float* old_row(size_t k, int i, int j) {
    const Rows r = saved_rows(k, i);
    return r.has(j) ? saved(k, i) + size_t(r.index(j)) * g_.nodes[k].Cp : row(k, i, j);
  }
  Rows changed(size_t k, int i) const {
    return {state_[k].range[i].first, state_[k].range[i].last, g_.nodes[k].need.step};
  }
  Rows saved_rows(size_t k, int i) const { return {state_[k].range[i].base, state_[k].range[i].end, g_.nodes[k].need.step}; }

  // The edge's row q for chain i, through its map, into out (the producer's padded width).
  void mapped(const Graph::In& e, int i, int q, float* out) { e.map.apply(row(e.node, i, q + e.offset), out); }
  // The change of the edge's row q for chain i (through its map) into d (the producer's padded width).
  void change(const Graph::In& e, int i, int q, float* d) {
    const int j = q + e.offset;
    const float* now = row(e.node, i, j);
    const float* before = old_row(e.node, i, j);
    const int C = g_.nodes[e.node].C;
    if (e.map.identity() || e.map.relu_only()) {
      k_.delta(now, before, d, C, e.map.relu_only());
      return;
    }
    e.map.apply(now, d);
    e.map.apply(before, tmp_.data());
    for (int c = 0; c < C; ++c) d[c] -= tmp_[c];
  }
  // The same, packed to its nonzero entries in d_ / ch_; returns their count.
  int edge_delta(const Graph::In& e, int i, int q) {
    change(e, i, q, d_.data());
    return k_.compress_nonzero(d_.data(), ch_.data(), g_.nodes[e.node].C);
  }

  // Node k (not dense) for chain i: save the rows its inputs' changes reach, update them.
  void propose_node(size_t k, int i, const Mutation& m) {
    const Graph::Prepared& y = g_.nodes[k];
    const Rows r = g_.changed_rows(k, [&](int n) { return changed(n, i); });
    Range& range = state_[k].range[i];
    range = {r.first, r.last, r.first, r.last};
    if (r.empty()) return;
    float* old = saved(k, i);
    if (y.first) {  // add each tap's weight change in place, saving the old rows
      const FirstConv::Tap* tap = y.first->begin(m.position);
      const FirstConv::Tap* end = y.first->end(m.position);
      for (int j = r.first; j < r.last; j += r.step) {
        float* rj = row(k, i, j);
        float* o = old + size_t(r.index(j)) * y.Cp;
        while (tap != end && tap->out < j) ++tap;
        if (tap == end || tap->out != j) {  // a row between taps (stride or dilation): unchanged
          std::copy_n(rj, y.Cp, o);
          continue;
        }
        k_.save_add(rj, o, y.first->delta(tap->tap, m.from, m.to), y.Cp);
        ++tap;
      }
      trim(k, i);
      return;
    }
    std::copy_n(row(k, i, r.first), size_t(r.size()) * y.Cp, old);
    if (y.node.kind == Node::Kind::conv) {
      // Input row a's change reaches output j = (a + pad - t * dilation) / stride through tap t.
      const Graph::In& e = y.in[0];
      const Graph::Prepared& from = g_.nodes[e.node];
      const Rows q = e.read(changed(e.node, i));
      int nonzero = 0;
      for (int a = q.first; a < q.last; a += q.step) {
        float* d = changes_.data() + size_t(q.index(a)) * from.Cp;
        change(e, i, a, d);
        for (int ch = 0; ch < from.C; ++ch) nonzero += d[ch] != 0.f;
      }
      const float* taps = y.rows.data();
      const size_t tap = size_t(from.C) * y.Cp;
      if (y.node.stride == 1 && 4 * nonzero >= q.size() * from.C) {  // mostly nonzero: one GEMM per tap
        for (int t = 0; t < y.node.width; ++t) {
          // Output rows j of r whose input j - shift changed; consecutive ones are r.step apart in both.
          const int shift = y.node.pad_left - t * y.node.dilation;
          const Rows out = r.clip(q.first + shift, q.last + shift);
          if (out.empty()) continue;
          const size_t lda = size_t(out.size() > 1 ? out.step / q.step : 1) * from.Cp;
          k_.gemm(changes_.data() + size_t(q.index(out.first - shift)) * from.Cp, lda, out.size(), from.C, taps + t * tap,
                  y.Cp, row(k, i, out.first), y.Cp, y.Cp);
        }
        trim(k, i);
        return;
      }
      for (int a = q.first; a < q.last; a += q.step) {
        float* d = changes_.data() + size_t(q.index(a)) * from.Cp;
        const int nnz = k_.compress_nonzero(d, ch_.data(), from.C);
        if (!nnz) continue;
        for (int t = 0; t < y.node.width; ++t) {
          const int s = a + y.node.pad_left - t * y.node.dilation;
          if (s < 0 || s % y.node.stride) continue;
          const int j = s / y.node.stride;
          if (r.has(j)) k_.sparse_gemv(d, ch_.data(), nnz, taps + t * tap, y.Cp, row(k, i, j), y.Cp);
        }
      }
    } else {
      for (int j = r.first; j < r.last; j += r.step) recompute_row(k, i, j);
    }
    trim(k, i);
  }

  // A dense node for every chain, one input row at a time (bucketed across chains).
  void propose_dense(size_t k) {
    const Graph::Prepared& y = g_.nodes[k];
    const Graph::In& e = y.in[0];
    const int Cin = g_.nodes[e.node].C;
    std::fill(first_.begin(), first_.begin() + e.length + 1, 0);
    for (int i = 0; i < n_; ++i) {
      const Rows r = g_.changed_rows(k, [&](int n) { return changed(n, i); });
      state_[k].range[i] = {r.first, r.last, r.first, r.last};
      if (r.empty()) continue;
      std::copy_n(row(k, i, 0), y.Cp, saved(k, i));
      const Rows c = e.read(changed(e.node, i));
      for (int q = c.first; q < c.last; q += c.step) ++first_[q + 1];
    }
    if (e.length == 1) {  // one input row (after a dense layer or a global pool): one GEMM over the chains
      propose_dense_gemm(k);
      return;
    }
    for (int q = 0; q < e.length; ++q) first_[q + 1] += first_[q];
    for (int i = 0; i < n_; ++i) {
      if (state_[k].range[i].first >= state_[k].range[i].last) continue;
      const Rows c = e.read(changed(e.node, i));
      for (int q = c.first; q < c.last; q += c.step) by_row_[first_[q]++] = i;
    }
    for (int q = 0, begin = 0; q < e.length; begin = first_[q++]) {
      const float* wq = y.rows.data() + size_t(q) * Cin * y.Cp;
      for (int b = begin; b < first_[q]; ++b) {
        const int i = by_row_[b], nnz = edge_delta(e, i, q);
        if (nnz) k_.sparse_gemv(d_.data(), ch_.data(), nnz, wq, y.Cp, row(k, i, 0), y.Cp);
      }
    }
    for (int i = 0; i < n_; ++i) trim(k, i);
  }

  // A dense node on a single input row: every chain's change is a row of one matrix, multiplied
  // by the weights in one GEMM when mostly nonzero (the weights are read once per step, not once
  // per chain); unchanged chains add zero rows, which leave them as they are.
  void propose_dense_gemm(size_t k) {
    const Graph::Prepared& y = g_.nodes[k];
    const Graph::In& e = y.in[0];
    const Graph::Prepared& from = g_.nodes[e.node];
    int nonzero = 0, moved = 0;
    for (int i = 0; i < n_; ++i) {
      float* d = changes_.data() + size_t(i) * from.Cp;
      if (state_[k].range[i].first >= state_[k].range[i].last) {
        std::fill_n(d, from.Cp, 0.f);
        continue;
      }
      change(e, i, 0, d);
      ++moved;
      for (int c = 0; c < from.C; ++c) nonzero += d[c] != 0.f;
    }
    if (4 * nonzero >= moved * from.C) {
      k_.gemm(changes_.data(), from.Cp, n_, from.C, y.rows.data(), y.Cp, row(k, 0, 0), y.Cp, y.Cp);
    } else {
      for (int i = 0; i < n_; ++i) {
        float* d = changes_.data() + size_t(i) * from.Cp;
        const int nnz = k_.compress_nonzero(d, ch_.data(), from.C);
        if (nnz) k_.sparse_gemv(d, ch_.data(), nnz, y.rows.data(), y.Cp, row(k, i, 0), y.Cp);
      }
    }
    for (int i = 0; i < n_; ++i) trim(k, i);
  }

  // Narrow node k's changed rows for chain i to the first and last that differ from the saved ones.
  void trim(size_t k, int i) {
    Range& r = state_[k].range[i];
    const int Cp = g_.nodes[k].Cp, step = g_.nodes[k].need.step;
    const float* old = saved(k, i);
    const Rows kept = saved_rows(k, i);
    auto same = [&](int j) { return std::memcmp(row(k, i, j), old + size_t(kept.index(j)) * Cp, Cp * sizeof(float)) == 0; };
    while (r.first < r.last && same(r.first)) r.first += step;
    while (r.last > r.first && same(r.last - 1)) r.last -= step;
  }

  // Row j of a pool or sum, from its inputs' current rows.
  void recompute_row(size_t k, int i, int j) {
    const Graph::Prepared& y = g_.nodes[k];
    float* out = row(k, i, j);
    if (y.node.kind == Node::Kind::add) {
      mapped(y.in[0], i, j, out);
      for (size_t s = 1; s < y.in.size(); ++s) {
        mapped(y.in[s], i, j, tmp_.data());
#pragma omp simd
        for (int c = 0; c < y.Cp; ++c) out[c] += tmp_[c];
      }
      for (int c = y.C; c < y.Cp; ++c) out[c] = 0.f;  // steps may shift padded channels
      return;
    }
    const Node& pool = y.node;
    const Graph::In& e = y.in[0];
    const bool max = pool.kind == Node::Kind::max_pool;
    std::fill_n(out, y.Cp, max ? -std::numeric_limits<float>::infinity() : 0.f);
    int present = 0;
    for (int t = 0; t < pool.width; ++t) {
      const int q = j * pool.stride - pool.pad_left + t;
      if (q < 0 || q >= e.length) continue;
      ++present;
      mapped(e, i, q, tmp_.data());
      if (max) {
#pragma omp simd
        for (int c = 0; c < y.Cp; ++c) out[c] = std::max(out[c], tmp_[c]);
      } else {
#pragma omp simd
        for (int c = 0; c < y.Cp; ++c) out[c] += tmp_[c];
      }
    }
    if (!max) {
      const float scale = 1.f / float(pool.count_include_pad ? pool.width : std::max(present, 1));
      for (int c = 0; c < y.Cp; ++c) out[c] *= scale;
    }
    for (int c = y.C; c < y.Cp; ++c) out[c] = 0.f;
  }

  // The needed rows of node k for chain i, from scratch.
  void compute(size_t k, int i, const uint8_t* codes) {
    const Graph::Prepared& y = g_.nodes[k];
    if (y.first) {
      y.first->compute(codes, y.need, row(k, i, y.need.first), y.Cp);
      return;
    }
    if (y.node.kind != Node::Kind::conv && y.node.kind != Node::Kind::dense) {
      for (int j = y.need.first; j < y.need.last; j += y.need.step) recompute_row(k, i, j);
      return;
    }
    // The input rows read, through the edge's map, packed to their nonzero entries.
    const Graph::In& e = y.in[0];
    const Graph::Prepared& from = g_.nodes[e.node];
    const Rows q = y.node.kind == Node::Kind::dense ? Rows{0, e.length} : window_of(y.node, y.need, e.length);
    for (int a = q.first; a < q.last; a += q.step) {
      float* act = act_.data() + size_t(q.index(a)) * from.Cp;
      mapped(e, i, a, act);
      act_nonzero_[q.index(a)] = k_.compress_nonzero(act, act_channel_.data() + size_t(q.index(a)) * from.Cp, from.C);
    }
    auto add_row = [&](int a, const float* w, float* out) {
      const size_t s = size_t(q.index(a)) * from.Cp;
      k_.sparse_gemv(act_.data() + s, act_channel_.data() + s, act_nonzero_[q.index(a)], w, y.Cp, out, y.Cp);
    };
    for (int j = y.need.first; j < y.need.last; j += y.need.step) {
      float* out = row(k, i, j);
      std::fill_n(out, y.Cp, 0.f);
      std::copy(y.node.bias.begin(), y.node.bias.end(), out);
      if (y.node.kind == Node::Kind::dense) {
        for (int a = q.first; a < q.last; ++a) add_row(a, y.rows.data() + size_t(a) * from.C * y.Cp, out);
        continue;
      }
      for (int t = 0; t < y.node.width; ++t) {
        const int a = j * y.node.stride - y.node.pad_left + t * y.node.dilation;
        if (a >= 0 && a < e.length) add_row(a, y.rows.data() + size_t(t) * from.C * y.Cp, out);
      }
    }
  }

  // Phi of chain i (the output node's rows `rows` changed), or those rows of the tail's input.
  void write_output(int i, Rows rows) {
    const Graph::In& e = g_.output;
    const Graph::Prepared& out = g_.nodes[e.node];
    if (call_) {
      float* x = x_tail_.data() + size_t(i) * out.C * out.node.length;
      for (int j = rows.first; j < rows.last; j += rows.step) {
        const float* rj = row(e.node, i, j);
        for (int c = 0; c < out.C; ++c) x[g_.tail_pos[size_t(j) * out.C + c]] = rj[c];
      }
      return;
    }
    for (size_t s = 0; s < g_.out_rows.size(); ++s) mapped(e, i, g_.out_rows[s], out_mapped_.data() + s * out.Cp);
    float* phi = phi_.data() + size_t(i) * P_;
    for (int u = 0; u < P_; ++u) phi[u] = out_mapped_[g_.phi_slot[u]];
  }

  int n_, P_;
  const Graph& g_;
  const Kernels& k_;
  std::vector<State> state_;
  std::vector<float> d_, tmp_;         // one row's change, a scratch row
  std::vector<float> changes_;         // the changes of a conv's changed input rows
  std::vector<uint16_t> ch_;           // the channels of its nonzero entries
  std::vector<float> act_;             // one chain's input rows of a node (computed from scratch)
  std::vector<uint16_t> act_channel_;
  std::vector<int> act_nonzero_;
  std::vector<int> by_row_, first_;    // chains bucketed by dense input row
  std::vector<float> phi_, out_mapped_, x_tail_;
  std::optional<OrtCall> call_;
};

}  // namespace

std::shared_ptr<const Graph> prepare_graph(const Plan& plan) { return std::make_shared<const Graph>(plan); }

std::unique_ptr<BlockEvaluator> make_graph_block(const Plan& plan, const Graph& graph, Ort::Session* tail, int n) {
  return std::make_unique<GraphBlock>(plan, graph, tail, n);
}

std::string graph_path(const Plan& plan, const Graph& graph) {
  // A chain (each node reads the one before it) is listed layer by layer, each with the steps
  // its reader applies; a graph is counted by kind.
  const std::vector<Node>& nodes = plan.nodes;
  std::vector<size_t> used;
  std::map<std::string, int> kinds;
  for (size_t k = 1; k < nodes.size(); ++k)
    if (graph.nodes[k].used()) used.push_back(k), ++kinds[node_name(nodes[k].kind)];
  bool chain = true;
  for (size_t u = 0; u < used.size(); ++u) {
    const std::vector<Edge>& in = nodes[used[u]].inputs;
    chain &= in.size() == 1 && size_t(in[0].node) == (u ? used[u - 1] : 0);
  }
  std::string text;
  if (chain) {
    for (size_t u = 0; u < used.size(); ++u) {
      text += (u ? ", " : "") + describe(nodes[used[u]]);
      if (u + 1 < used.size())
        for (const Step& s : nodes[used[u + 1]].inputs[0].map) text += "+" + step_name(s.kind);
    }
  } else {
    text = std::to_string(used.size()) + " nodes (";
    for (auto it = kinds.begin(); it != kinds.end(); ++it)
      text += (it == kinds.begin() ? "" : ", ") + std::to_string(it->second) + " " + it->first;
    text += ")";
  }
  if (plan.tail_model.empty()) return "incremental: " + text + " updated in the core";
  return "incremental: " + text + " updated in the core, rest of the network in ONNX Runtime";
}


std::vector<NodeReport> graph_nodes(const Graph& graph) {
  std::vector<NodeReport> out;
  for (size_t k = 1; k < graph.nodes.size(); ++k) {
    const Graph::Prepared& y = graph.nodes[k];
    if (!y.used()) continue;
    const char* how = y.first                                  ? "updated from the changed base"
                      : y.node.kind == Node::Kind::conv ||
                              y.node.kind == Node::Kind::dense ? "updated from changed input rows"
                                                               : "recomputed where inputs changed";
    out.push_back({y.node.label, describe(y.node), how, y.need.size(), y.node.length, y.window});
  }
  return out;
}


Flops graph_flops(const Graph& graph, const std::vector<int>& proposed) { return graph.flops(proposed); }

int64_t graph_chain_bytes(const Graph& graph) { return graph.chain_bytes(); }

}  // namespace seqmaxent
