// ggml's tensor shapes and graph order (ggml.c), for the compute-buffer model. Each op makes
// the tensor ggml makes: a new contiguous tensor of the result's shape and type, or a view of
// its source where ggml returns a view (reshape, permute, set_rows, cpy, …).

#include "router/graph.h"

#include <algorithm>
#include <stdexcept>

#include "core/gguf.h"

namespace ask::router::graph {

bool can_inplace(Op op) {
  switch (op) {
  case Op::fill:
  case Op::scale:
  case Op::add:
  case Op::add_id:
  case Op::add1:
  case Op::sub:
  case Op::mul:
  case Op::div:
  case Op::sqr:
  case Op::sqrt:
  case Op::log:
  case Op::unary:
  case Op::rope:
  case Op::rms_norm:
  case Op::soft_max:
    return true;
  default:
    return false;
  }
}

bool is_view_op(Op op) {
  return op == Op::view || op == Op::reshape || op == Op::permute || op == Op::transpose;
}

namespace {

struct Traits {
  std::uint64_t block = 1;
  std::uint64_t size = 4;
};

Traits traits(std::uint32_t type) {
  if (auto t = core::gguf::type_traits(type)) {
    return {t->block_size, t->type_size};
  }
  return {};
}

} // namespace

std::uint64_t row_size(std::uint32_t type, std::int64_t n) {
  const Traits t = traits(type);
  return static_cast<std::uint64_t>(n) / t.block * t.size;
}

std::uint64_t Tensor::nbytes() const {
  for (std::int64_t n : ne) {
    if (n <= 0) {
      return 0;
    }
  }
  const Traits t = traits(type);
  std::uint64_t bytes = t.block == 1 ? t.size : static_cast<std::uint64_t>(ne[0]) * nb[0] / t.block;
  for (int i = t.block == 1 ? 0 : 1; i < 4; ++i) {
    bytes += static_cast<std::uint64_t>(ne[i] - 1) * nb[i];
  }
  return bytes;
}

bool Tensor::contiguous() const {
  const Traits t = traits(type);
  std::uint64_t expect = t.size;
  if (nb[0] != expect) {
    return false;
  }
  expect = expect * static_cast<std::uint64_t>(ne[0]) / t.block;
  for (int i = 1; i < 4; ++i) {
    if (ne[i] != 1 && nb[i] != expect) {
      return false;
    }
    expect *= static_cast<std::uint64_t>(ne[i]);
  }
  return true;
}

Tensor* Graph::make(std::uint32_t type, std::array<std::int64_t, 4> ne, Tensor* view_src,
                    std::uint64_t offset) {
  // Shapes come from an untrusted file: a tensor past k_max_tensor_bytes (or a negative or
  // overflowing shape) ends the graph rather than wrapping a size.
  std::uint64_t elements = 1;
  for (std::int64_t n : ne) {
    if (n < 0 || __builtin_mul_overflow(elements, static_cast<std::uint64_t>(n), &elements)) {
      throw std::length_error("graph: a tensor shape overflows");
    }
  }
  if (elements > k_max_tensor_bytes / 8) {
    throw std::length_error("graph: a tensor of more than 16 TiB");
  }
  Tensor& t = m_tensors.emplace_back();
  t.id = static_cast<int>(m_tensors.size()) - 1;
  t.type = type;
  t.ne = ne;
  t.layer = m_layer;
  const Traits tr = traits(type);
  t.nb[0] = tr.size;
  t.nb[1] = tr.size * static_cast<std::uint64_t>(ne[0]) / tr.block;
  t.nb[2] = t.nb[1] * static_cast<std::uint64_t>(ne[1]);
  t.nb[3] = t.nb[2] * static_cast<std::uint64_t>(ne[2]);
  if (view_src != nullptr) {
    // ggml_new_tensor_impl: a view of a view points at the base tensor.
    if (view_src->view_src != nullptr) {
      offset += view_src->view_offs;
      view_src = view_src->view_src;
    }
    t.view_src = view_src;
    t.view_offs = offset;
    t.device = view_src->device;
    t.preallocated = view_src->preallocated;
  }
  return &t;
}

Tensor* Graph::new_tensor(std::uint32_t type, std::array<std::int64_t, 4> ne) {
  return make(type, ne);
}

Tensor* Graph::input(std::uint32_t type, std::int64_t ne0, std::int64_t ne1, std::int64_t ne2,
                     std::int64_t ne3) {
  Tensor* t = make(type, {ne0, ne1, ne2, ne3});
  t->input = true;
  return t;
}

Tensor* Graph::weight(std::uint32_t type, std::array<std::int64_t, 4> ne, int device,
                      bool is_weight) {
  Tensor* t = make(type, ne);
  t->preallocated = true;
  t->weights = is_weight;
  t->device = device;
  return t;
}

Tensor* Graph::view(Tensor* a, std::array<std::int64_t, 4> ne, std::array<std::uint64_t, 3> nb,
                    std::uint64_t offset) {
  Tensor* t = make(a->type, ne, a, offset);
  t->nb[1] = nb[0];
  t->nb[2] = nb[1];
  t->nb[3] = nb[2];
  t->op = Op::view;
  t->src[0] = a;
  return t;
}

Tensor* Graph::view_1d(Tensor* a, std::int64_t ne0, std::uint64_t offset) {
  Tensor* t = make(a->type, {ne0, 1, 1, 1}, a, offset);
  t->op = Op::view;
  t->src[0] = a;
  return t;
}

Tensor* Graph::view_2d(Tensor* a, std::int64_t ne0, std::int64_t ne1, std::uint64_t nb1,
                       std::uint64_t offset) {
  return view(a, {ne0, ne1, 1, 1},
              {nb1, nb1 * static_cast<std::uint64_t>(ne1), nb1 * static_cast<std::uint64_t>(ne1)},
              offset);
}

Tensor* Graph::view_3d(Tensor* a, std::int64_t ne0, std::int64_t ne1, std::int64_t ne2,
                       std::uint64_t nb1, std::uint64_t nb2, std::uint64_t offset) {
  return view(a, {ne0, ne1, ne2, 1}, {nb1, nb2, nb2 * static_cast<std::uint64_t>(ne2)}, offset);
}

Tensor* Graph::view_4d(Tensor* a, std::int64_t ne0, std::int64_t ne1, std::int64_t ne2,
                       std::int64_t ne3, std::uint64_t nb1, std::uint64_t nb2, std::uint64_t nb3,
                       std::uint64_t offset) {
  return view(a, {ne0, ne1, ne2, ne3}, {nb1, nb2, nb3}, offset);
}

Tensor* Graph::reshape(Tensor* a, std::array<std::int64_t, 4> ne) {
  Tensor* t = make(a->type, ne, a, 0);
  t->op = Op::reshape;
  t->src[0] = a;
  return t;
}

Tensor* Graph::permute(Tensor* a, int ax0, int ax1, int ax2, int ax3) {
  Tensor* t = make(a->type, a->ne, a, 0);
  const std::array<int, 4> axes{ax0, ax1, ax2, ax3};
  for (int i = 0; i < 4; ++i) {
    t->ne[static_cast<std::size_t>(axes[i])] = a->ne[i];
    t->nb[static_cast<std::size_t>(axes[i])] = a->nb[i];
  }
  t->op = Op::permute;
  t->src[0] = a;
  return t;
}

Tensor* Graph::transpose(Tensor* a) {
  Tensor* t = make(a->type, a->ne, a, 0);
  t->nb = a->nb;
  std::swap(t->ne[0], t->ne[1]);
  std::swap(t->nb[0], t->nb[1]);
  t->op = Op::transpose;
  t->src[0] = a;
  return t;
}

Tensor* Graph::unary(Op op, Tensor* a, Tensor* b, Tensor* c) {
  Tensor* t = make(a->type, a->ne);
  t->op = op;
  t->src[0] = a;
  t->src[1] = b;
  t->src[2] = c;
  return t;
}

Tensor* Graph::soft_max(Tensor* a, Tensor* mask, Tensor* sinks) {
  return unary(Op::soft_max, a, mask, sinks);
}

Tensor* Graph::mul_mat(Tensor* a, Tensor* b) {
  Tensor* t = make(f32, {a->ne[1], b->ne[1], b->ne[2], b->ne[3]});
  t->op = Op::mul_mat;
  t->src[0] = a;
  t->src[1] = b;
  return t;
}

Tensor* Graph::mul_mat_id(Tensor* as, Tensor* b, Tensor* ids) {
  Tensor* t = make(f32, {as->ne[1], ids->ne[0], b->ne[2], 1});
  t->op = Op::mul_mat_id;
  t->src[0] = as;
  t->src[1] = b;
  t->src[2] = ids;
  return t;
}

Tensor* Graph::add_id(Tensor* a, Tensor* b, Tensor* ids) {
  return unary(Op::add_id, a, b, ids);
}

Tensor* Graph::get_rows(Tensor* a, Tensor* rows) {
  const std::uint32_t type = a->type == i32 ? i32 : f32;
  Tensor* t = make(type, {a->ne[0], rows->ne[0], rows->ne[1], rows->ne[2]});
  t->op = Op::get_rows;
  t->src[0] = a;
  t->src[1] = rows;
  return t;
}

Tensor* Graph::set_rows(Tensor* dst, Tensor* src, Tensor* rows) {
  Tensor* t = make(dst->type, dst->ne, dst, 0);
  t->nb = dst->nb;
  t->op = Op::set_rows;
  t->src[0] = src;
  t->src[1] = rows;
  t->src[2] = dst;
  return t;
}

Tensor* Graph::flash_attn_ext(Tensor* q, Tensor* k, Tensor* v, Tensor* mask, Tensor* sinks) {
  Tensor* t = make(f32, {v->ne[0], q->ne[2], q->ne[1], q->ne[3]});
  t->op = Op::flash_attn_ext;
  t->src[0] = q;
  t->src[1] = k;
  t->src[2] = v;
  t->src[3] = mask;
  t->src[4] = sinks; // ggml_flash_attn_ext_add_sinks
  return t;
}

Tensor* Graph::cont(Tensor* a, std::array<std::int64_t, 4> ne) {
  Tensor* t = make(a->type, ne);
  t->op = Op::cont;
  t->src[0] = a;
  return t;
}

Tensor* Graph::cpy(Tensor* a, Tensor* b) {
  Tensor* t = make(b->type, b->ne, b, 0);
  t->nb = b->nb;
  t->op = Op::cpy;
  t->src[0] = a;
  t->src[1] = b;
  return t;
}

Tensor* Graph::cast(Tensor* a, std::uint32_t type) {
  Tensor* t = make(type, a->ne);
  t->op = Op::cpy;
  t->src[0] = a;
  t->src[1] = t; // ggml_cast refers to itself
  return t;
}

Tensor* Graph::concat(Tensor* a, Tensor* b, int dim) {
  std::array<std::int64_t, 4> ne = a->ne;
  ne[static_cast<std::size_t>(dim)] += b->ne[static_cast<std::size_t>(dim)];
  Tensor* t = make(a->type, ne);
  t->op = Op::concat;
  t->src[0] = a;
  t->src[1] = b;
  return t;
}

Tensor* Graph::glu_split(Tensor* a, Tensor* b) {
  Tensor* t = make(a->type, a->ne);
  t->op = Op::glu;
  t->src[0] = a;
  t->src[1] = b;
  return t;
}

Tensor* Graph::glu(Tensor* a) {
  Tensor* t = make(a->type, {a->ne[0] / 2, a->ne[1], a->ne[2], a->ne[3]});
  t->op = Op::glu;
  t->src[0] = a;
  return t;
}

Tensor* Graph::argsort_top_k(Tensor* a, std::int64_t k) {
  Tensor* sorted = make(i32, a->ne);
  sorted->op = Op::argsort;
  sorted->src[0] = a;
  return view_4d(sorted, k, sorted->ne[1], sorted->ne[2], sorted->ne[3], sorted->nb[1],
                 sorted->nb[2], sorted->nb[3], 0);
}

Tensor* Graph::top_k(Tensor* a, std::int64_t k) {
  Tensor* t = make(i32, {k, a->ne[1], a->ne[2], a->ne[3]});
  t->op = Op::top_k;
  t->src[0] = a;
  return t;
}

Tensor* Graph::sum_rows(Tensor* a) {
  Tensor* t = make(a->type, {1, a->ne[1], a->ne[2], a->ne[3]});
  t->op = Op::sum_rows;
  t->src[0] = a;
  return t;
}

Tensor* Graph::pad(Tensor* a, std::int64_t p0, std::int64_t p1, std::int64_t p2, std::int64_t p3) {
  Tensor* t = make(a->type, {a->ne[0] + p0, a->ne[1] + p1, a->ne[2] + p2, a->ne[3] + p3});
  t->op = Op::pad;
  t->src[0] = a;
  return t;
}

Tensor* Graph::repeat(Tensor* a, std::array<std::int64_t, 4> ne) {
  Tensor* t = make(a->type, ne);
  t->op = Op::repeat;
  t->src[0] = a;
  return t;
}

Tensor* Graph::op(Op op, std::uint32_t type, std::array<std::int64_t, 4> ne,
                  std::initializer_list<Tensor*> srcs) {
  Tensor* t = make(type, ne);
  t->op = op;
  std::size_t i = 0;
  for (Tensor* s : srcs) {
    if (i == t->src.size()) {
      throw std::logic_error("graph::op: too many sources");
    }
    t->src[i++] = s;
  }
  return t;
}

void Graph::expand(Tensor* t, bool /*compute*/) {
  visit(t);
}

void Graph::visit(Tensor* root) {
  // ggml_visit_parents_graph, without recursion: a layer's graph hangs off the previous
  // layer's, so the depth is the node count.
  struct Frame {
    Tensor* t;
    std::size_t next;
  };
  auto seen = [&](Tensor* t) -> char& {
    if (m_visited.size() <= static_cast<std::size_t>(t->id)) {
      m_visited.resize(m_tensors.size(), 0);
    }
    return m_visited[static_cast<std::size_t>(t->id)];
  };
  if (seen(root) != 0) {
    return;
  }
  seen(root) = 1;
  std::vector<Frame> stack{{root, 0}};
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next < f.t->src.size()) {
      Tensor* s = f.t->src[f.next++];
      if (s != nullptr && seen(s) == 0) {
        seen(s) = 1;
        stack.push_back({s, 0});
      }
      continue;
    }
    Tensor* t = f.t;
    stack.pop_back();
    (t->op == Op::none ? m_leafs : m_nodes).push_back(t);
  }
}

} // namespace ask::router::graph
