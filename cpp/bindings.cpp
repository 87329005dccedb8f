// Python bindings of the sampler core (module seqmaxent._core).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "kernels.hpp"
#include "plan.hpp"
#include "runtime.hpp"
#include "sampler.hpp"

namespace py = pybind11;
using namespace seqmaxent;

namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

std::vector<float> to_vector(const FloatArray& a) { return std::vector<float>(a.data(), a.data() + a.size()); }

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "seqmaxent sampler core (C++, OpenMP, ONNX Runtime)";
  py::register_exception<Cancelled>(m, "Cancelled");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Ort::Exception& e) {
      PyErr_SetString(PyExc_RuntimeError, (std::string("ONNX Runtime: ") + e.what()).c_str());
    }
  });

  m.def("load_runtime", &load_runtime, py::arg("library_path"), "dlopen the ONNX Runtime shared library");
  m.def("runtime_loaded", &runtime_loaded);
  m.def("runtime_version", &runtime_version);
  m.def("available_providers", &available_providers);
  m.def("ort_api_version", [] { return ORT_API_VERSION; }, "ONNX Runtime C API version the core was built for");
  m.def("kernel_level", [] { return std::string(kernels().name); }, "Instruction-set level of the kernels in use");
  m.def("kernel_levels", &kernel_levels, "Kernel levels this CPU can run, lowest first");

  py::class_<Step>(m, "Step")
      .def(py::init([](const std::string& kind, float alpha, std::optional<FloatArray> scale,
                       std::optional<FloatArray> shift) {
             Step st;
             st.kind = step_kind(kind);
             st.alpha = alpha;
             if (scale) st.scale = to_vector(*scale);
             if (shift) st.shift = to_vector(*shift);
             return st;
           }),
           py::arg("kind"), py::arg("alpha") = 0.f, py::arg("scale") = py::none(), py::arg("shift") = py::none(),
           "An elementwise op: relu, leaky_relu (alpha), sigmoid, tanh, exp, softplus, elu (alpha), erf, silu "
           "(x sigmoid(alpha x)), gelu, mish, or affine (per-channel scale, shift)");

  py::class_<Edge>(m, "Edge")
      .def(py::init([](int node, int offset, int length, std::vector<Step> map) {
             return Edge{node, offset, length, std::move(map)};
           }),
           py::arg("node"), py::arg("offset"), py::arg("length"), py::arg("map") = std::vector<Step>{},
           "Rows [offset, offset + length) of node `node`, read through elementwise steps `map`")
      .def_readonly("node", &Edge::node)
      .def_readonly("offset", &Edge::offset)
      .def_readonly("length", &Edge::length);

  py::class_<Node>(m, "Node")
      .def(py::init([](const std::string& kind, std::vector<Edge> inputs, int channels, int length, int width, int stride,
                       int dilation, int pad_left, bool count_include_pad, std::optional<FloatArray> weight,
                       std::optional<FloatArray> bias, std::string label) {
             Node y;
             y.kind = node_kind(kind);
             y.inputs = std::move(inputs);
             y.channels = channels, y.length = length, y.width = width, y.stride = stride, y.dilation = dilation;
             y.pad_left = pad_left, y.count_include_pad = count_include_pad;
             if (weight) y.weight = to_vector(*weight);
             if (bias) y.bias = to_vector(*bias);
             y.label = std::move(label);
             return y;
           }),
           py::arg("kind"), py::arg("inputs"), py::arg("channels"), py::arg("length"), py::arg("width") = 1,
           py::arg("stride") = 1, py::arg("dilation") = 1, py::arg("pad_left") = 0, py::arg("count_include_pad") = false,
           py::arg("weight") = py::none(), py::arg("bias") = py::none(), py::arg("label") = "",
           "A node of the core's graph: input, conv (weight (channels, in, width)), max_pool, avg_pool, add, or dense "
           "(weight (channels, in rows x in channels))")
      .def_property_readonly("kind", [](const Node& y) { return node_name(y.kind); })
      .def_readonly("channels", &Node::channels)
      .def_readonly("length", &Node::length)
      .def_readonly("label", &Node::label);

  py::class_<Plan>(m, "Plan")
      .def(py::init([](int length, int phi_dim, std::vector<int64_t> input_shape, int64_t position_stride,
                       int64_t base_stride, const py::bytes& phi_model, std::vector<Node> nodes, std::optional<Edge> output,
                       std::vector<int32_t> phi_index, const py::bytes& tail_model, std::vector<int32_t> tail_index,
                       std::vector<int64_t> tail_shape, const py::bytes& step_model, const py::bytes& codes_model,
                       const py::bytes& copy_model, const py::bytes& init_model, const py::bytes& heat_bath_model,
                       const std::string& step_path, int64_t resident_chain_bytes) {
             Plan p;
             p.length = length, p.phi_dim = phi_dim;
             p.input.shape = std::move(input_shape);
             p.input.position_stride = position_stride, p.input.base_stride = base_stride;
             p.phi_model = phi_model;
             p.nodes = std::move(nodes);
             if (output) p.output = *output;
             p.phi_index = std::move(phi_index);
             p.tail_model = tail_model;
             p.tail_index = std::move(tail_index);
             p.tail_shape = std::move(tail_shape);
             p.step_model = step_model, p.codes_model = codes_model, p.copy_model = copy_model;
             p.init_model = init_model, p.heat_bath_model = heat_bath_model, p.step_path = step_path;
             p.resident_chain_bytes = resident_chain_bytes;
             p.validate();
             return p;
           }),
           py::arg("length"), py::arg("phi_dim"), py::arg("input_shape"), py::arg("position_stride"),
           py::arg("base_stride"), py::arg("phi_model"), py::arg("nodes") = std::vector<Node>{},
           py::arg("output") = py::none(), py::arg("phi_index") = std::vector<int32_t>{},
           py::arg("tail_model") = py::bytes(), py::arg("tail_index") = std::vector<int32_t>{},
           py::arg("tail_shape") = std::vector<int64_t>{}, py::arg("step_model") = py::bytes(),
           py::arg("codes_model") = py::bytes(), py::arg("copy_model") = py::bytes(),
           py::arg("init_model") = py::bytes(), py::arg("heat_bath_model") = py::bytes(), py::arg("step_path") = "",
           py::arg("resident_chain_bytes") = 0)
      .def_readonly("length", &Plan::length)
      .def_readonly("phi_dim", &Plan::phi_dim)
      .def_readonly("nodes", &Plan::nodes)
      .def(
          "save", [](const Plan& p, const FloatArray& scale, const std::string& dir) { save_plan({p, to_vector(scale)}, dir); },
          py::arg("scale"), py::arg("folder"), "Write the plan folder that the seqmaxent-bench binary reads")
      .def_static(
          "load",
          [](const std::string& dir) {
            PlanFolder f = load_plan(dir);
            return py::make_tuple(std::move(f.plan), py::array_t<float>(py::ssize_t(f.scale.size()), f.scale.data()));
          },
          py::arg("folder"), "Read a plan folder: (plan, scale)");

  py::class_<Engine>(m, "Engine")
      .def(py::init([](const Plan& plan, const std::string& provider, int threads, bool incremental, bool resident) {
             return new Engine(plan, provider_from_name(provider), threads, incremental, resident);
           }),
           py::arg("plan"), py::arg("provider") = "cpu", py::arg("threads") = 1, py::arg("incremental") = true,
           py::arg("resident") = false)
      .def_property_readonly("resident", &Engine::resident)
      .def_property_readonly("threads", &Engine::threads)
      .def_property_readonly("incremental", &Engine::incremental)
      .def_property_readonly("path", &Engine::path)
      .def_property_readonly(
          "nodes",
          [](const Engine& e) {
            py::list out;
            for (const NodeReport& r : e.nodes())
              out.append(py::dict(py::arg("label") = r.label, py::arg("kind") = r.kind, py::arg("how") = r.how,
                                  py::arg("rows_kept") = r.rows_kept, py::arg("length") = r.length,
                                  py::arg("window") = r.window));
            return out;
          },
          "How the core evaluates each node: label, kind, how, rows kept, output rows, rows one change moves")
      .def(
          "flops",
          [](const Engine& e, const std::vector<int>& proposed) {
            const Flops f = e.flops(proposed);
            return py::make_tuple(f.incremental, f.full);
          },
          py::arg("proposed") = std::vector<int>{},
          "FLOPs of one proposal through the core's nodes: (a single-base change averaged over the proposed "
          "positions, 0-based, default all; a full pass)")
      .def_property_readonly("chain_bytes", &Engine::chain_bytes, "Bytes of state the core keeps per chain")
      .def(
          "phi",
          [](Engine& engine, py::array_t<uint8_t, py::array::c_style | py::array::forcecast> codes) {
            if (codes.ndim() != 2 || codes.shape(1) != engine.plan().length)
              throw std::invalid_argument("codes must have shape (n, length)");
            py::array_t<float> phi({codes.shape(0), py::ssize_t(engine.plan().phi_dim)});
            {
              py::gil_scoped_release release;
              Sampler(engine).run_phi(codes.data(), codes.shape(0), phi.mutable_data());
            }
            return phi;
          },
          py::arg("codes"), "Phi of each sequence (n, length) of base codes, as the sampler computes it");

  py::class_<Sampler>(m, "Sampler")
      .def(py::init<Engine&>(), py::keep_alive<1, 2>(), py::arg("engine"))
      .def(
          "run",
          [](Sampler& s, py::array_t<uint8_t, py::array::c_style | py::array::forcecast> x0,
             py::array_t<int64_t, py::array::c_style | py::array::forcecast> ids,
             py::array_t<double, py::array::c_style | py::array::forcecast> betas,
             std::vector<int> keep, int swap_every, const std::string& moves, double mu,
             std::array<bool, kBases> constrained, const FloatArray& scale, int chains, int steps, int period,
             int burn_in, uint64_t seed, uint64_t round, int refresh, py::array_t<float> phi0_out,
             std::optional<py::array_t<uint8_t>> state_codes, std::optional<py::array_t<int32_t>> state_rungs,
             std::optional<py::array_t<uint8_t, py::array::c_style | py::array::forcecast>> region) {
            SamplerConfig c;
            if (x0.ndim() != 2) throw std::invalid_argument("x0 must have shape (inputs, length)");
            if (betas.ndim() != 2 || betas.shape(0) != x0.shape(0))
              throw std::invalid_argument("betas must have shape (inputs, rungs)");
            c.betas.assign(betas.data(), betas.data() + betas.size());
            c.rungs = int(betas.shape(1));
            c.keep = std::move(keep), c.swap_every = swap_every;
            if (moves == "metropolis") c.moves = Moves::metropolis;
            else if (moves == "heat-bath") c.moves = Moves::heat_bath;
            else throw std::invalid_argument("moves must be 'metropolis' or 'heat-bath', not '" + moves + "'");
            c.mu = mu, c.chains = chains, c.steps = steps, c.period = period;
            c.burn_in = burn_in, c.seed = seed, c.round = round, c.refresh = refresh;
            for (int b = 0; b < kBases; ++b) c.constrained[b] = constrained[b];
            c.scale = to_vector(scale);
            if (region) c.region.assign(region->data(), region->data() + region->size());
            c.validate(s.engine().plan().phi_dim);
            const py::ssize_t n = x0.shape(0), L = x0.shape(1), K = py::ssize_t(c.keep.size()), R = c.rungs;
            if (ids.ndim() != 1 || ids.shape(0) != n) throw std::invalid_argument("ids must have one entry per input");
            if (phi0_out.ndim() != 2 || phi0_out.shape(0) != n) throw std::invalid_argument("phi0 buffer shape");
            ChainState state;
            if (state_codes.has_value() != state_rungs.has_value())
              throw std::invalid_argument("give both state_codes and state_rungs, or neither");
            if (state_codes) {  // updated in place
              auto& sc = *state_codes;
              auto& sr = *state_rungs;
              const bool contiguous = (sc.flags() & sr.flags() & py::array::c_style) != 0;
              if (!contiguous || sc.size() != n * chains * R * L || sr.size() != n * chains * R)
                throw std::invalid_argument("state arrays must be C-contiguous, (inputs, chains, rungs, length) and (inputs, chains, rungs)");
              state.codes = sc.mutable_data();
              state.rung = sr.mutable_data();
            }
            py::array_t<uint8_t> samples({n, K, py::ssize_t(chains), py::ssize_t(c.kept()), L});
            py::array_t<float> distances({n, K, py::ssize_t(chains), py::ssize_t(c.kept())});
            py::array_t<int64_t> accepted({n, py::ssize_t(chains), R});
            py::array_t<int64_t> swaps({n, py::ssize_t(chains), R - 1});
            py::array_t<int64_t> evaluations(n);
            SampleOutputs out{samples.mutable_data(), distances.mutable_data(), accepted.mutable_data(),
                              swaps.mutable_data(), evaluations.mutable_data(), phi0_out.mutable_data()};
            {
              py::gil_scoped_release release;
              s.run(x0.data(), ids.data(), n, c, state, out);
            }
            return py::make_tuple(samples, distances, accepted, swaps, evaluations);
          },
          py::arg("x0"), py::arg("ids"), py::arg("betas"), py::arg("keep"), py::arg("swap_every"), py::arg("moves"),
          py::arg("mu"), py::arg("constrained"), py::arg("scale"), py::arg("chains"), py::arg("steps"),
          py::arg("period"), py::arg("burn_in"), py::arg("seed"), py::arg("round"), py::arg("refresh"),
          py::arg("phi0"), py::arg("state_codes") = py::none(), py::arg("state_rungs") = py::none(), py::arg("region") = py::none(),
          "Sample with one ladder of betas (inputs, rungs) per input; returns (samples (n, keep, chains, kept, L), distances, accepted (n, chains, rungs), "
          "swaps (n, chains, rungs - 1), evaluations (n))")
      .def_property_readonly("done", &Sampler::done)
      .def_property_readonly("total", &Sampler::total)
      .def("cancel", &Sampler::cancel);
}
