// llm-sim: a llama-server / Ollama simulator for tests, benchmarks and demos.
#include "sim/app.h"

int main(int argc, char** argv) {
  return ask::sim::run_llm_sim(argc, argv);
}
