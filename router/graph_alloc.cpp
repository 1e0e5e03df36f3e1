// ggml-backend's scheduler (ggml_backend_sched_split_graph) and ggml-alloc's graph allocator
// (ggml_gallocr_reserve_n, ggml_dyn_tallocr) replayed over a router/graph.h graph, step for
// step as in ggml at llama.cpp build b10587: the same passes, the same order, the same
// best-fit rule, so the same peak. Only sizes are tracked, never memory.

#include "router/graph_alloc.h"

#include <algorithm>
#include <limits>
#include <ostream>
#include <stdexcept>

namespace ask::router::graph {
namespace {

constexpr std::uint64_t k_size_max = std::numeric_limits<std::uint64_t>::max();
constexpr int k_max_chunks = 16; // GGML_VBUFFER_MAX_CHUNKS

std::uint64_t align_up(std::uint64_t size, std::uint64_t alignment) {
  return (size + alignment - 1) / alignment * alignment;
}

// ggml_dyn_tallocr: offsets only.
class DynAllocator {
public:
  struct Address {
    int chunk = -1;
    std::uint64_t offset = 0;
  };

  DynAllocator(std::uint64_t alignment, std::uint64_t max_size)
      : m_alignment(alignment),
        m_max_chunk_size(std::min(max_size == 0 ? k_size_max : max_size, k_size_max / 2)) {}

  Address alloc(std::uint64_t size) {
    size = align_up(size, m_alignment);
    int best_chunk = -1;
    int best_block = -1;
    // The best-fitting free block, the last block of each chunk excepted.
    for (int c = 0; c < static_cast<int>(m_chunks.size()); ++c) {
      const Chunk& chunk = m_chunks[static_cast<std::size_t>(c)];
      std::uint64_t best_size = k_size_max;
      for (int i = 0; i + 1 < static_cast<int>(chunk.free.size()); ++i) {
        const Block& b = chunk.free[static_cast<std::size_t>(i)];
        if (b.size >= size && b.size <= best_size) {
          best_chunk = c;
          best_block = i;
          best_size = b.size;
        }
      }
    }
    if (best_block == -1) {
      // The last block of a chunk, which may grow the chunk: the least growth, else the least
      // waste.
      std::int64_t best_reuse = std::numeric_limits<std::int64_t>::min();
      for (int c = 0; c < static_cast<int>(m_chunks.size()); ++c) {
        const Chunk& chunk = m_chunks[static_cast<std::size_t>(c)];
        if (chunk.free.empty()) {
          continue;
        }
        const Block& b = chunk.free.back();
        const std::int64_t reuse = static_cast<std::int64_t>(chunk.max_size) -
                                   static_cast<std::int64_t>(b.offset) -
                                   static_cast<std::int64_t>(size);
        const bool better_reuse = best_reuse < 0 && reuse > best_reuse;
        const bool better_fit = reuse >= 0 && reuse < best_reuse;
        if (b.size >= size && (better_reuse || better_fit)) {
          best_chunk = c;
          best_block = static_cast<int>(chunk.free.size()) - 1;
          best_reuse = reuse;
        }
      }
    }
    if (best_block == -1) {
      best_chunk = new_chunk(size);
      best_block = 0;
    }
    Chunk& chunk = m_chunks[static_cast<std::size_t>(best_chunk)];
    Block& b = chunk.free[static_cast<std::size_t>(best_block)];
    const Address addr{best_chunk, b.offset};
    b.offset += size;
    b.size -= size;
    if (b.size == 0) {
      chunk.free.erase(chunk.free.begin() + best_block);
    }
    chunk.max_size = std::max(chunk.max_size, addr.offset + size);
    return addr;
  }

  void free(Address addr, std::uint64_t size) {
    size = align_up(size, m_alignment);
    Chunk& chunk = m_chunks[static_cast<std::size_t>(addr.chunk)];
    auto& blocks = chunk.free;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      Block& b = blocks[i];
      if (b.offset + b.size == addr.offset) {
        b.size += size;
        if (i + 1 < blocks.size() && b.offset + b.size == blocks[i + 1].offset) {
          b.size += blocks[i + 1].size;
          blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(i) + 1);
        }
        return;
      }
      if (addr.offset + size == b.offset) {
        b.offset = addr.offset;
        b.size += size;
        if (i > 0 && blocks[i - 1].offset + blocks[i - 1].size == b.offset) {
          blocks[i - 1].size += b.size;
          blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(i));
        }
        return;
      }
    }
    auto at = std::find_if(blocks.begin(), blocks.end(),
                           [&](const Block& b) { return b.offset >= addr.offset; });
    blocks.insert(at, Block{addr.offset, size});
  }

  std::uint64_t total() const {
    std::uint64_t sum = 0;
    for (const Chunk& c : m_chunks) {
      sum += c.max_size;
    }
    return sum;
  }

private:
  struct Block {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
  };
  struct Chunk {
    std::vector<Block> free;
    std::uint64_t max_size = 0;
  };

  int new_chunk(std::uint64_t min_size) {
    if (static_cast<int>(m_chunks.size()) >= k_max_chunks) {
      throw std::runtime_error("graph allocation: out of chunks");
    }
    Chunk c;
    std::uint64_t size = std::max(min_size, m_max_chunk_size);
    if (static_cast<int>(m_chunks.size()) == k_max_chunks - 1) {
      size = k_size_max / 2;
    }
    c.free.push_back({0, size});
    m_chunks.push_back(std::move(c));
    return static_cast<int>(m_chunks.size()) - 1;
  }

  std::uint64_t m_alignment;
  std::uint64_t m_max_chunk_size;
  std::vector<Chunk> m_chunks;
};

// ggml_gallocr over the scheduler's graph copy.
class GraphAllocator {
public:
  GraphAllocator(const std::vector<Backend>& backends, std::size_t n_tensors) : m_info(n_tensors) {
    for (const Backend& b : backends) {
      m_allocs.emplace_back(b.alignment, b.max_size);
      m_alignments.push_back(b.alignment);
    }
  }

  void run(const std::vector<Tensor*>& nodes, const std::vector<int>& node_backend,
           const std::vector<Tensor*>& leafs, const std::vector<int>& leaf_backend) {
    for (std::size_t i = 0; i < leafs.size(); ++i) {
      allocate(leafs[i], leaf_backend[i]);
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      Tensor* node = nodes[i];
      if (node->is_view() && node->op != Op::none) {
        info(node->view_src).n_views += 1;
      }
      if (node->input) {
        allocate(node, node_backend[i]);
      }
      for (Tensor* src : node->src) {
        if (src == nullptr) {
          continue;
        }
        info(src).n_children += 1;
        if (src->input) {
          allocate(src, node_backend[i]);
        }
      }
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      Tensor* node = nodes[i];
      for (Tensor* parent : node->src) {
        if (parent != nullptr) {
          allocate(parent, node_backend[i]);
        }
      }
      allocate(node, node_backend[i]);
      for (Tensor* parent : node->src) {
        if (parent == nullptr) {
          continue;
        }
        Info& p = info(parent);
        p.n_children -= 1;
        if (p.n_children != 0 || p.n_views != 0) {
          continue;
        }
        if (parent->is_view()) {
          Info& v = info(parent->view_src);
          v.n_views -= 1;
          if (v.n_views == 0 && v.n_children == 0 && v.allocated) {
            release(parent->view_src);
          }
        } else if (p.allocated) {
          release(parent);
        }
      }
    }
  }

  std::vector<std::uint64_t> sizes() const {
    std::vector<std::uint64_t> out;
    for (const DynAllocator& a : m_allocs) {
      out.push_back(a.total());
    }
    return out;
  }

private:
  struct Info {
    int n_children = 0;
    int n_views = 0;
    int buffer = -1;
    DynAllocator::Address addr;
    bool allocated = false;
  };

  Info& info(const Tensor* t) {
    if (static_cast<std::size_t>(t->id) >= m_info.size()) {
      m_info.resize(static_cast<std::size_t>(t->id) + 1);
    }
    return m_info[static_cast<std::size_t>(t->id)];
  }

  bool is_allocated(const Tensor* t) { return t->preallocated || info(t).allocated; }

  static bool same_layout(const Tensor* a, const Tensor* b) {
    return a->type == b->type && a->ne == b->ne && a->nb == b->nb;
  }

  void allocate(Tensor* node, int buffer) {
    if (buffer < 0) {
      throw std::logic_error("graph allocation: a tensor without a backend");
    }
    Info& hn = info(node);
    if (is_allocated(node) || node->is_view()) {
      return;
    }
    hn.allocated = true;
    if (can_inplace(node->op)) {
      for (Tensor* parent : node->src) {
        if (parent == nullptr || !info(parent).allocated) {
          continue; // external data cannot be reused
        }
        if (parent->output || (parent->view_src != nullptr && parent->view_src->output)) {
          continue;
        }
        if (!same_layout(node, parent)) {
          continue;
        }
        Info& p = info(parent);
        if (p.n_children == 1 && p.n_views == 0) {
          if (parent->is_view()) {
            Info& v = info(parent->view_src);
            if (v.n_views == 1 && v.n_children == 0 && parent->view_offs == 0) {
              hn.buffer = p.buffer;
              hn.addr = p.addr;
              p.allocated = false;
              v.allocated = false;
              free_extra(node, parent->view_src);
              return;
            }
          } else {
            hn.buffer = p.buffer;
            hn.addr = p.addr;
            p.allocated = false;
            free_extra(node, parent);
            return;
          }
        }
      }
    }
    hn.buffer = buffer;
    hn.addr = m_allocs[static_cast<std::size_t>(buffer)].alloc(node->nbytes());
  }

  // ggml_gallocr_free_extra_space: a smaller tensor in a parent's place frees the rest.
  void free_extra(const Tensor* node, const Tensor* parent) {
    const Info& p = info(parent);
    DynAllocator& alloc = m_allocs[static_cast<std::size_t>(p.buffer)];
    const std::uint64_t parent_size = parent->nbytes();
    const std::uint64_t node_size = node->nbytes();
    const std::uint64_t a = m_alignments[static_cast<std::size_t>(p.buffer)];
    const std::uint64_t ps = align_up(parent_size, a), ns = align_up(node_size, a);
    if (ps > ns) {
      DynAllocator::Address at = p.addr;
      at.offset += ns;
      alloc.free(at, ps - ns);
    }
  }

  void release(const Tensor* node) {
    if (node->output) {
      return;
    }
    Info& hn = info(node);
    m_allocs[static_cast<std::size_t>(hn.buffer)].free(hn.addr, node->nbytes());
    hn.allocated = false;
  }

  std::vector<Info> m_info;
  std::vector<DynAllocator> m_allocs;
  std::vector<std::uint64_t> m_alignments;
};

// ggml_backend_sched_split_graph over `g`, then the allocator over its graph copy.
class Scheduler {
public:
  Scheduler(Graph& g, const std::vector<Backend>& backends, std::ostream* trace, int n_copies)
      : m_g(g), m_backends(backends), m_cpu(static_cast<int>(backends.size()) - 1),
        m_ids(g.tensor_count() * 2 + 16, -1), m_trace(trace), m_n_copies(std::max(1, n_copies)) {}

  std::vector<std::uint64_t> run() {
    for (Tensor* t : m_g.leafs()) {
      id(t) = t->backend;
    }
    for (Tensor* t : m_g.nodes()) {
      id(t) = t->backend;
    }
    assign();
    split();
    GraphAllocator alloc(m_backends, m_copy_count);
    alloc.run(m_nodes, m_node_ids, m_leafs, m_leaf_ids);
    return alloc.sizes();
  }

private:
  int& id(const Tensor* t) {
    const auto i = static_cast<std::size_t>(t->id);
    if (i >= m_ids.size()) {
      m_ids.resize(i + 1, -1);
    }
    return m_ids[i];
  }

  // The backend holding a tensor's buffer: its device, or the CPU for host memory.
  int buffer_backend(const Tensor* t) const {
    const Tensor* base = t->view_src != nullptr ? t->view_src : t;
    if (!base->preallocated) {
      return -1;
    }
    return base->device < 0 ? m_cpu : base->device;
  }

  // get_op_batch_size (ggml-cuda.cu): what offload_op weighs against its minimum batch.
  static std::int64_t batch(const Tensor* op) {
    switch (op->op) {
    case Op::get_rows:
      return 0;
    case Op::mul_mat:
      return op->ne[1];
    case Op::mul_mat_id:
    case Op::rope:
      return op->ne[2];
    default:
      return op->ne[1] * op->ne[2] * op->ne[3];
    }
  }

  // ggml_backend_sched_backend_id_from_cur.
  int from_cur(const Tensor* t) {
    if (int b = buffer_backend(t); b != -1) {
      return b;
    }
    if (t->input) {
      return m_cpu;
    }
    if (t->op == Op::rope || t->op == Op::flash_attn_ext) {
      return -1;
    }
    for (const Tensor* s : t->src) {
      if (s == nullptr || !s->weights) {
        continue;
      }
      const int b = buffer_backend(s);
      if (b == m_cpu) {
        for (int g = 0; g < m_cpu; ++g) {
          const std::int64_t min = m_backends[static_cast<std::size_t>(g)].offload_min_batch;
          if (min > 0 && batch(t) >= min) {
            return g;
          }
        }
      }
      return b;
    }
    return -1;
  }

  // Whether backend `b` can read `t` where it lives (ggml_backend_sched_buffer_supported).
  bool buffer_supported(const Tensor* t, int b) {
    int owner = buffer_backend(t);
    if (owner == -1) {
      owner = id(t);
      if (owner == -1 && t->view_src != nullptr) {
        owner = id(t->view_src);
      }
    }
    if (owner == -1) {
      return false;
    }
    return owner == b || (m_backends[static_cast<std::size_t>(b)].cpu && owner == m_cpu);
  }

  void expand(bool skip_cpu, bool down) {
    const auto& nodes = m_g.nodes();
    const int n = static_cast<int>(nodes.size());
    int cur = -1;
    for (int k = 0; k < n; ++k) {
      const Tensor* node = nodes[static_cast<std::size_t>(down ? k : n - 1 - k)];
      if (is_view_op(node->op)) {
        continue;
      }
      int& nid = id(node);
      if (nid != -1) {
        cur = skip_cpu && nid == m_cpu ? -1 : nid;
      } else if (cur != -1) {
        nid = cur;
      }
    }
  }

  void assign() {
    for (Tensor* t : m_g.leafs()) {
      if (id(t) == -1) {
        id(t) = from_cur(t);
      }
    }
    for (Tensor* t : m_g.nodes()) {
      if (id(t) == -1) {
        id(t) = from_cur(t);
      }
    }
    expand(true, true);
    expand(true, false);
    expand(false, true);
    expand(false, false);
    // Pass 3: nodes nothing reached go to the backend that can read most of their inputs.
    for (Tensor* node : m_g.nodes()) {
      if (is_view_op(node->op) || id(node) != -1) {
        continue;
      }
      int best = -1;
      for (int b = 0; b <= m_cpu; ++b) {
        int n = 0;
        for (const Tensor* s : node->src) {
          if (s != nullptr && (id(s) != -1 || (s->view_src != nullptr && id(s->view_src) != -1)) &&
              buffer_supported(s, b)) {
            ++n;
          }
        }
        if (n > best) {
          best = n;
          id(node) = b;
        }
      }
    }
    // Pass 4: views and sources follow.
    for (Tensor* node : m_g.nodes()) {
      int& cur = id(node);
      if (node->view_src != nullptr && cur == -1) {
        cur = id(node->view_src);
      }
      for (Tensor* s : node->src) {
        if (s == nullptr) {
          continue;
        }
        int& sid = id(s);
        if (sid == -1) {
          sid = s->view_src != nullptr ? id(s->view_src) : cur;
        }
      }
      if (cur == -1) {
        cur = 0;
      }
    }
  }

  // Pass 5: splits, and a copy of every input that lives where the split's backend cannot
  // read it; then the graph copy the allocator runs over.
  void split() {
    struct Split {
      int backend = 0;
      std::size_t start = 0, end = 0;
      std::vector<Tensor*> inputs;
    };
    const auto& nodes = m_g.nodes();
    std::vector<Split> splits;
    std::size_t i = 0;
    for (; i < nodes.size() && is_view_op(nodes[i]->op); ++i) {
    }
    splits.push_back({i < nodes.size() ? id(nodes[i]) : m_cpu, 0, 0, {}});
    int cur = splits.back().backend;
    // copies[backend][tensor id]: the tensor's copies on that backend (n_copies of them, the
    // first being the one the graph reads now, cur_copy 0).
    std::vector<std::vector<std::vector<Tensor*>>> copies(m_backends.size());
    auto copies_of = [&](const Tensor* t, int b) -> std::vector<Tensor*>& {
      auto& v = copies[static_cast<std::size_t>(b)];
      if (v.size() <= static_cast<std::size_t>(t->id)) {
        v.resize(static_cast<std::size_t>(t->id) + 1);
      }
      return v[static_cast<std::size_t>(t->id)];
    };
    auto copy_of = [&](const Tensor* t, int b) -> Tensor* {
      const auto& v = copies_of(t, b);
      return v.empty() ? nullptr : v.front();
    };
    std::vector<Tensor*> graph_inputs; // inputs copied n_copies times where they live
    for (; i < nodes.size(); ++i) {
      Tensor* node = nodes[i];
      if (is_view_op(node->op)) {
        continue;
      }
      const int nid = id(node);
      bool new_split = false;
      if (nid == cur && !splits.back().inputs.empty()) {
        for (const Tensor* s : node->src) {
          if (s != nullptr && s->weights && s->view_src == nullptr) {
            const int sb = id(s);
            if (sb != cur && !buffer_supported(s, cur)) {
              new_split = true;
              break;
            }
          }
        }
      }
      if (nid != cur || new_split) {
        splits.back().end = i;
        splits.push_back({nid, i, 0, {}});
        cur = nid;
      }
      for (Tensor*& s : node->src) {
        if (s == nullptr) {
          continue;
        }
        const int sb = id(s);
        if (s->input && m_n_copies > 1 && copies_of(s, sb).empty()) {
          // The input itself is copy 0; all of them are inputs and outputs (never freed).
          auto& v = copies_of(s, sb);
          for (int c = 0; c < m_n_copies; ++c) {
            Tensor* t = c == 0 ? s : dup(s, sb);
            t->input = t->output = true;
            v.push_back(t);
          }
          graph_inputs.push_back(s);
        }
        if (sb != cur && !buffer_supported(s, cur)) {
          auto& v = copies_of(s, cur);
          if (v.empty()) {
            for (int c = 0; c < m_n_copies; ++c) {
              Tensor* t = dup(s, cur);
              if (m_n_copies > 1) {
                t->input = t->output = true;
              }
              v.push_back(t);
            }
            splits.back().inputs.push_back(s);
          }
          s = v.front();
        }
      }
    }
    splits.back().end = nodes.size();
    if (m_trace != nullptr) {
      print(splits.size(), [&](std::size_t k) -> const Split& { return splits[k]; });
    }

    for (const Split& sp : splits) {
      for (Tensor* in : sp.inputs) {
        Tensor* dep = m_g.view(in, in->ne, {in->nb[1], in->nb[2], in->nb[3]}, 0);
        dep->op = Op::none; // ggml_view_tensor: a dependency, not a view op
        dep->src[0] = in;
        m_nodes.push_back(dep);
        m_node_ids.push_back(id(in));
        m_nodes.push_back(copy_of(in, sp.backend));
        m_node_ids.push_back(sp.backend);
      }
      for (std::size_t j = sp.start; j < sp.end; ++j) {
        m_nodes.push_back(nodes[j]);
        m_node_ids.push_back(id(nodes[j]));
      }
    }
    if (m_n_copies > 1) {
      // The copies are leaves, allocated first: the graph inputs' on their backend, then each
      // split's on the split's backend.
      for (Tensor* in : graph_inputs) {
        for (Tensor* c : copies_of(in, id(in))) {
          m_leafs.push_back(c);
          m_leaf_ids.push_back(id(in));
        }
      }
      for (const Split& sp : splits) {
        for (Tensor* in : sp.inputs) {
          for (Tensor* c : copies_of(in, sp.backend)) {
            m_leafs.push_back(c);
            m_leaf_ids.push_back(sp.backend);
          }
        }
      }
    }
    for (Tensor* leaf : m_g.leafs()) {
      m_leafs.push_back(leaf);
      m_leaf_ids.push_back(id(leaf) == -1 ? m_cpu : id(leaf));
    }
    m_copy_count = m_g.tensor_count();
  }

  // ggml_dup_tensor_layout: a tensor of the same type, shape and strides, on backend `b`.
  Tensor* dup(const Tensor* src, int b) {
    Tensor* t = m_g.new_tensor(src->type, src->ne);
    t->nb = src->nb;
    t->name = m_backends[static_cast<std::size_t>(b)].name + "#" + label(src);
    id(t) = b;
    return t;
  }

  // A tensor's name, else its id, layer and op ("#1086 L24 op6").
  static std::string label(const Tensor* t) {
    return !t->name.empty() ? t->name
                            : "#" + std::to_string(t->id) + " L" + std::to_string(t->layer) +
                                  " op" + std::to_string(static_cast<int>(t->op));
  }

  static std::string size_text(std::uint64_t bytes) {
    return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + "M"
                               : std::to_string(bytes >> 10) + "K";
  }

  template <typename SplitAt> void print(std::size_t n_splits, SplitAt at) {
    std::ostream& out = *m_trace;
    const auto& nodes = m_g.nodes();
    for (std::size_t s = 0; s < n_splits; ++s) {
      const auto& sp = at(s);
      out << "## SPLIT #" << s << ": " << m_backends[static_cast<std::size_t>(sp.backend)].name
          << " # " << sp.inputs.size() << " inputs:";
      for (const Tensor* in : sp.inputs) {
        out << " [" << label(in) << " (" << size_text(in->nbytes()) << ")]";
      }
      out << '\n';
      for (std::size_t i = sp.start; i < sp.end; ++i) {
        const Tensor* t = nodes[i];
        if (is_view_op(t->op)) {
          continue;
        }
        out << "node #" << i << " (op " << static_cast<int>(t->op) << "): layer " << t->layer << " "
            << t->name << " (" << size_text(t->nbytes()) << ") ["
            << m_backends[static_cast<std::size_t>(id(t))].name << "]";
        for (const Tensor* src : t->src) {
          if (src != nullptr) {
            out << "  " << label(src) << " (" << size_text(src->nbytes()) << ")";
          }
        }
        out << '\n';
      }
    }
  }

  Graph& m_g;
  const std::vector<Backend>& m_backends;
  int m_cpu;
  std::vector<int> m_ids;
  std::vector<Tensor*> m_nodes;
  std::vector<int> m_node_ids;
  std::vector<Tensor*> m_leafs;
  std::vector<int> m_leaf_ids;
  std::size_t m_copy_count = 0;
  std::ostream* m_trace;
  int m_n_copies;
};

} // namespace

std::vector<std::uint64_t> reserve(Graph& g, const std::vector<Backend>& backends,
                                   std::ostream* trace, int n_copies) {
  if (backends.empty() || !backends.back().cpu) {
    throw std::logic_error("graph::reserve: the CPU backend must come last");
  }
  return Scheduler(g, backends, trace, n_copies).run();
}

void Reservation::add(const std::vector<std::uint64_t>& sizes) {
  for (std::size_t i = 0; i < m_sizes.size() && i < sizes.size(); ++i) {
    m_sizes[i] = std::max(m_sizes[i], sizes[i]);
  }
}

} // namespace ask::router::graph
