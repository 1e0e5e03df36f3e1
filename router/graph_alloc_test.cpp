#include "router/graph_alloc.h"

#include <doctest/doctest.h>

namespace ask::router::graph {
namespace {

std::vector<Backend> cpu_only() {
  Backend cpu;
  cpu.name = "CPU";
  cpu.cpu = true;
  return {cpu};
}

std::vector<Backend> gpu_and_cpu() {
  Backend gpu;
  gpu.name = "GPU0";
  std::vector<Backend> out{gpu};
  out.push_back(cpu_only()[0]);
  return out;
}

TEST_CASE("graph alloc: a freed input's block is reused, so a chain peaks at two tensors") {
  Graph g;
  Tensor* a = g.input(f32, 256); // 1 KiB
  Tensor* b = g.cont(a);
  Tensor* c = g.cont(b);
  Tensor* d = g.cont(c);
  d->output = true;
  g.expand(d);
  CHECK(reserve(g, cpu_only()) == std::vector<std::uint64_t>{2048});
}

TEST_CASE("graph alloc: an op that may work in place takes its only parent's memory") {
  Graph g;
  Tensor* a = g.input(f32, 256);
  Tensor* b = g.unary(Op::scale, a); // ggml_op_can_inplace(SCALE)
  b->output = true;
  g.expand(b);
  CHECK(reserve(g, cpu_only()) == std::vector<std::uint64_t>{1024});

  Graph g2; // the same with an op that cannot: a second block
  Tensor* a2 = g2.input(f32, 256);
  Tensor* b2 = g2.cont(a2);
  b2->output = true;
  g2.expand(b2);
  CHECK(reserve(g2, cpu_only()) == std::vector<std::uint64_t>{2048});
}

TEST_CASE("graph alloc: a parent with two consumers is not overwritten in place") {
  Graph g;
  Tensor* a = g.input(f32, 256);
  Tensor* b = g.unary(Op::scale, a);
  Tensor* c = g.binary(Op::add, b, a); // a is still needed: b cannot take a's memory
  c->output = true;
  g.expand(c);
  // a (1 KiB), b (1 KiB), c takes b's place in place: 2 KiB.
  CHECK(reserve(g, cpu_only()) == std::vector<std::uint64_t>{2048});
}

TEST_CASE("graph alloc: outputs are never freed") {
  auto peak = [](bool middle_is_output) {
    Graph g;
    Tensor* a = g.input(f32, 256);
    Tensor* b = g.cont(a);
    b->output = middle_is_output;
    Tensor* c = g.cont(b);
    Tensor* d = g.cont(c);
    d->output = true;
    g.expand(d);
    return reserve(g, cpu_only())[0];
  };
  CHECK(peak(false) == 2048);
  CHECK(peak(true) == 3072);
}

TEST_CASE("graph alloc: sizes are rounded up to the buffer's alignment") {
  Graph g;
  Tensor* a = g.input(f16, 250); // 500 bytes
  a->output = true;
  g.expand(a);
  auto backends = cpu_only();
  CHECK(reserve(g, backends)[0] == 512);
  backends[0].alignment = 1024;
  Graph g2;
  Tensor* a2 = g2.input(f16, 250);
  g2.expand(a2);
  CHECK(reserve(g2, backends)[0] == 1024);
}

TEST_CASE("graph alloc: an op next to a device's weights runs there, on a copy of its host input") {
  Graph g;
  Tensor* w = g.weight(f32, {256, 256, 1, 1}, 0);
  Tensor* x = g.input(f32, 256, 4); // 4 KiB, an input: on the CPU
  Tensor* y = g.mul_mat(w, x);      // [256, 4] f32 on GPU0
  y->output = true;
  g.expand(y);
  const auto sizes = reserve(g, gpu_and_cpu());
  REQUIRE(sizes.size() == 2);
  CHECK(sizes[0] == 8192); // the copy of x and y
  CHECK(sizes[1] == 4096); // x
}

TEST_CASE("graph alloc: ops without weights follow their neighbours onto the device") {
  Graph g;
  Tensor* w = g.weight(f32, {256, 256, 1, 1}, 0);
  Tensor* x = g.input(f32, 256, 4);
  Tensor* y = g.mul_mat(w, x);
  Tensor* z = g.cont(y); // no weight: expanded from y's backend
  z->output = true;
  g.expand(z);
  const auto sizes = reserve(g, gpu_and_cpu());
  CHECK(sizes[0] == 2 * 4096); // copy of x and y; z takes the copy's place once y is done
  CHECK(sizes[1] == 4096);
}

TEST_CASE("graph alloc: a pipeline keeps four copies of every input, never freed") {
  auto build = [](Graph& g) {
    Tensor* w = g.weight(f32, {256, 256, 1, 1}, 0);
    Tensor* x = g.input(f32, 256, 4); // 4 KiB on the CPU
    Tensor* y = g.mul_mat(w, x);      // on GPU0, from a copy of x
    Tensor* z = g.cont(y);
    z->output = true;
    g.expand(z);
  };
  Graph one, four;
  build(one);
  build(four);
  const auto single = reserve(one, gpu_and_cpu());
  const auto pipelined = reserve(four, gpu_and_cpu(), nullptr, 4);
  CHECK(single[0] == 2 * 4096);    // copy of x, y; z takes the copy's place
  CHECK(pipelined[0] == 6 * 4096); // four copies of x (kept), y, z
  CHECK(single[1] == 4096);        // x
  CHECK(pipelined[1] == 4 * 4096); // x and its three copies
}

TEST_CASE("graph alloc: a reservation keeps each backend's largest buffer") {
  Reservation r(2);
  r.add({10, 5});
  r.add({3, 8});
  CHECK(r.sizes() == std::vector<std::uint64_t>{10, 8});
}

} // namespace
} // namespace ask::router::graph
