#pragma once
// llm-sim's main program: parse the command line, bind, "load" the model while /health
// says 503, serve until SIGTERM/SIGINT, shut down like the simulated server.

namespace ask::sim {

// Returns the process exit status: 0 after a clean shutdown, 1 when the model cannot be
// loaded or the address bound (like llama-server), 2 for a bad command line.
int run_llm_sim(int argc, char** argv);

} // namespace ask::sim
