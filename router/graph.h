#pragma once
// A model of ggml's compute graphs: tensors with ggml's shapes, strides, views and flags, the
// ops llama.cpp's graph builders use (shapes only, no data), and ggml's graph order
// (ggml_build_forward_expand's depth-first visit). router/graph_alloc.h runs ggml-alloc's and
// ggml-backend's scheduler over such a graph to size the compute buffers; router/graph_llm.h
// builds llama.cpp's graphs with it. Nothing here computes: a graph of a 70B model at a 128k
// context is a few thousand small structs.

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace ask::router::graph {

// ggml type ids (ggml.h): the compute types and any weight type by its id.
enum Type : std::uint32_t {
  f32 = 0,
  f16 = 1,
  q8_0 = 8,
  i32 = 26,
  i64 = 27,
  bf16 = 30,
};

// ggml ops that matter to the allocator: which may work in place, which are views, which
// the scheduler treats specially. Every other op is `other`.
// clang-format off
enum class Op {
  none, // a leaf: a weight, an input, a cache
  view, reshape, permute, transpose,
  scale, add, add_id, add1, sub, mul, div, sqr, sqrt, log, unary, rope, rms_norm, soft_max, fill,
  get_rows, set_rows, mul_mat, mul_mat_id, flash_attn_ext, cpy, cont, concat, glu, norm, clamp,
  argsort, top_k, sum_rows, pad, repeat, ssm_conv, ssm_scan, gated_delta_net, l2_norm, other,
};
// clang-format on

// ggml_op_can_inplace (ggml-alloc.c).
bool can_inplace(Op op);
// ggml_is_view_op (ggml-backend.cpp): ops the scheduler skips.
bool is_view_op(Op op);

inline constexpr int k_max_src = 10; // GGML_MAX_SRC
// The largest tensor a graph may hold (16 TiB); Graph throws std::length_error past it, so
// no size computed from an untrusted file can wrap.
inline constexpr std::uint64_t k_max_tensor_bytes = 1ull << 44;

struct Tensor {
  int id = 0; // creation order
  Op op = Op::none;
  std::uint32_t type = f32;
  std::array<std::int64_t, 4> ne{1, 1, 1, 1};
  std::array<std::uint64_t, 4> nb{0, 0, 0, 0};
  Tensor* view_src = nullptr;
  std::uint64_t view_offs = 0;
  std::array<Tensor*, k_max_src> src{};
  bool input = false;  // GGML_TENSOR_FLAG_INPUT
  bool output = false; // GGML_TENSOR_FLAG_OUTPUT
  // A weight (or a cache) in a buffer allocated outside the graph, on `device` (-1 = the
  // host). The allocator never allocates it; the scheduler places ops next to weights.
  bool preallocated = false;
  bool weights = false; // a model weight (GGML_BACKEND_BUFFER_USAGE_WEIGHTS)
  int device = -1;
  int backend = -1; // assigned by the scheduler (or forced by llama.cpp, as for "norm")
  int layer = -1;   // the llama.cpp layer that built it (-1: input or output)
  std::string name;

  std::uint64_t nbytes() const; // ggml_nbytes
  std::int64_t nelements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  bool is_view() const { return view_src != nullptr; }
  bool contiguous() const;
};

// Bytes of a row of `n` elements of `type` (ggml_row_size); types unknown to ggml count 4.
std::uint64_t row_size(std::uint32_t type, std::int64_t n);

// A graph under construction. Tensors live as long as the graph.
class Graph {
public:
  // --- leaves ---
  Tensor* new_tensor(std::uint32_t type, std::array<std::int64_t, 4> ne);
  Tensor* new_tensor(std::uint32_t type, std::int64_t ne0, std::int64_t ne1 = 1,
                     std::int64_t ne2 = 1, std::int64_t ne3 = 1) {
    return new_tensor(type, {ne0, ne1, ne2, ne3});
  }
  // ggml_new_tensor + ggml_set_input.
  Tensor* input(std::uint32_t type, std::int64_t ne0, std::int64_t ne1 = 1, std::int64_t ne2 = 1,
                std::int64_t ne3 = 1);
  // A tensor in a buffer of its own on `device` (-1 = host): a weight, or a KV cache layer.
  Tensor* weight(std::uint32_t type, std::array<std::int64_t, 4> ne, int device,
                 bool is_weight = true);

  // --- views (never allocated) ---
  Tensor* view(Tensor* a, std::array<std::int64_t, 4> ne, std::array<std::uint64_t, 3> nb,
               std::uint64_t offset);
  Tensor* view_1d(Tensor* a, std::int64_t ne0, std::uint64_t offset);
  Tensor* view_2d(Tensor* a, std::int64_t ne0, std::int64_t ne1, std::uint64_t nb1,
                  std::uint64_t offset);
  Tensor* view_3d(Tensor* a, std::int64_t ne0, std::int64_t ne1, std::int64_t ne2,
                  std::uint64_t nb1, std::uint64_t nb2, std::uint64_t offset);
  Tensor* view_4d(Tensor* a, std::int64_t ne0, std::int64_t ne1, std::int64_t ne2, std::int64_t ne3,
                  std::uint64_t nb1, std::uint64_t nb2, std::uint64_t nb3, std::uint64_t offset);
  Tensor* reshape(Tensor* a, std::array<std::int64_t, 4> ne);
  Tensor* reshape_2d(Tensor* a, std::int64_t ne0, std::int64_t ne1) {
    return reshape(a, {ne0, ne1, 1, 1});
  }
  Tensor* reshape_3d(Tensor* a, std::int64_t ne0, std::int64_t ne1, std::int64_t ne2) {
    return reshape(a, {ne0, ne1, ne2, 1});
  }
  Tensor* reshape_4d(Tensor* a, std::int64_t ne0, std::int64_t ne1, std::int64_t ne2,
                     std::int64_t ne3) {
    return reshape(a, {ne0, ne1, ne2, ne3});
  }
  Tensor* permute(Tensor* a, int ax0, int ax1, int ax2, int ax3);
  Tensor* transpose(Tensor* a);

  // --- ops (a new tensor, or a view where ggml makes one) ---
  Tensor* unary(Op op, Tensor* a, Tensor* b = nullptr, Tensor* c = nullptr); // same shape as a
  Tensor* binary(Op op, Tensor* a, Tensor* b) { return unary(op, a, b); }    // add, mul, …
  Tensor* rope(Tensor* a, Tensor* pos, Tensor* factors = nullptr) {
    return unary(Op::rope, a, pos, factors);
  }
  Tensor* soft_max(Tensor* a, Tensor* mask = nullptr, Tensor* sinks = nullptr);
  Tensor* mul_mat(Tensor* a, Tensor* b);
  Tensor* mul_mat_id(Tensor* as, Tensor* b, Tensor* ids);
  Tensor* add_id(Tensor* a, Tensor* b, Tensor* ids);
  Tensor* get_rows(Tensor* a, Tensor* rows);
  Tensor* set_rows(Tensor* dst, Tensor* src, Tensor* rows);
  Tensor* flash_attn_ext(Tensor* q, Tensor* k, Tensor* v, Tensor* mask, Tensor* sinks = nullptr);
  Tensor* cont(Tensor* a, std::array<std::int64_t, 4> ne);
  Tensor* cont(Tensor* a) { return cont(a, a->ne); }
  Tensor* cpy(Tensor* a, Tensor* b); // ggml_cpy: a view of b
  Tensor* cast(Tensor* a, std::uint32_t type);
  Tensor* concat(Tensor* a, Tensor* b, int dim);
  Tensor* glu_split(Tensor* a, Tensor* b); // swiglu/geglu/swiglu_oai of two halves
  Tensor* glu(Tensor* a);                  // fused: the first half gates the second
  Tensor* argsort_top_k(Tensor* a, std::int64_t k);
  Tensor* top_k(Tensor* a, std::int64_t k);
  Tensor* sum_rows(Tensor* a);
  Tensor* pad(Tensor* a, std::int64_t p0, std::int64_t p1 = 0, std::int64_t p2 = 0,
              std::int64_t p3 = 0);
  Tensor* repeat(Tensor* a, std::array<std::int64_t, 4> ne);
  // An op of any shape and type: the recurrent ops, convolutions, …
  Tensor* op(Op op, std::uint32_t type, std::array<std::int64_t, 4> ne,
             std::initializer_list<Tensor*> srcs);

  // ggml_build_forward_expand: appends `t` and every tensor it depends on, depth first in
  // source order, to the nodes (ops) or the leaves (op none). `compute` false is the branch
  // ggml_build_forward_select does not take: visited, ordered, never run.
  void expand(Tensor* t, bool compute = true);

  const std::vector<Tensor*>& nodes() const { return m_nodes; }
  const std::vector<Tensor*>& leafs() const { return m_leafs; }
  std::size_t tensor_count() const { return m_tensors.size(); }

  // Tensors built from now on are tagged with this layer (see Tensor::layer).
  void set_layer(int il) { m_layer = il; }

private:
  Tensor* make(std::uint32_t type, std::array<std::int64_t, 4> ne, Tensor* view_src = nullptr,
               std::uint64_t offset = 0);
  void visit(Tensor* t);

  std::deque<Tensor> m_tensors;
  std::vector<Tensor*> m_nodes;
  std::vector<Tensor*> m_leafs;
  std::vector<char> m_visited; // by Tensor::id
  int m_layer = -1;
};

} // namespace ask::router::graph
