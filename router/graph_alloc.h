#pragma once
// The compute buffers llama.cpp reserves for a graph: ggml-backend's scheduler (which backend
// runs each op, where the graph splits, which tensors are copied into which backend) and
// ggml-alloc's graph allocator (each tensor placed in its backend's buffer when first needed,
// freed after its last use, in-place reuse, best-fit free blocks), replayed over a
// router/graph.h graph. The result is the peak each backend's buffer reaches: the figure
// llama.cpp logs as "<backend> compute buffer size".

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "router/graph.h"

namespace ask::router::graph {

// One ggml backend of the scheduler, in llama.cpp's order: the model's devices (GPUs, RPC
// servers), then the CPU, which must be last.
struct Backend {
  std::string name;             // "CPU", "CUDA0", "RPC0[127.0.0.1:50052]"
  bool cpu = false;             // the host backend
  std::uint64_t alignment = 32; // the buffer type's alignment (TENSOR_ALIGNMENT on the CPU)
  std::uint64_t max_size = 0;   // the buffer type's largest allocation; 0 = unlimited
  // ggml_backend_offload_op: the backend takes ops whose weights are in host memory when the
  // batch is at least this large (CUDA: 32 tokens); 0 = never (CPU, RPC).
  std::int64_t offload_min_batch = 0;
};

// The peak of each backend's compute buffer for one graph (ggml_backend_sched_reserve).
// Weights and caches (Tensor::preallocated) live on Tensor::device: the index of their
// backend, -1 for the host. Tensor::backend, when set before, forces a node's backend
// (llama.cpp's ggml_backend_sched_set_tensor_backend).
// `trace`, when given, receives the splits and every op with its backend and size, in the
// shape of ggml's GGML_SCHED_DEBUG=2 output, for comparing with llama.cpp's.
// `n_copies` > 1 is the scheduler of a pipeline-parallel context (llama.cpp enables it on
// several GPUs that all take async copies and events, every layer offloaded, layer split,
// no tensor overrides): every graph input and every input a split copies in is kept in
// that many copies, none of them ever freed (GGML_SCHED_MAX_COPIES = 4).
std::vector<std::uint64_t> reserve(Graph& g, const std::vector<Backend>& backends,
                                   std::ostream* trace = nullptr, int n_copies = 1);

// Buffer sizes that only grow: llama.cpp reserves several graphs (prompt, one token, prompt
// again) and keeps each backend's buffer at the largest. Tracks that.
class Reservation {
public:
  explicit Reservation(std::size_t n_backends) : m_sizes(n_backends, 0) {}
  void add(const std::vector<std::uint64_t>& sizes);
  const std::vector<std::uint64_t>& sizes() const { return m_sizes; }

private:
  std::vector<std::uint64_t> m_sizes;
};

} // namespace ask::router::graph
