#pragma once
// The llama-server command line of a placed model: the model file, the settings that the
// estimate assumed (context, slots, KV cache types, flash attention, experts on CPU, draft
// or MTP, projector) and the plan's device arguments — so what runs is what was estimated.

#include <filesystem>
#include <string>
#include <vector>

#include "router/estimate.h"
#include "router/placement.h"

namespace ask::router {

struct ServerFiles {
  std::filesystem::path model;      // the first part of a split model
  std::filesystem::path draft;      // "" = none
  std::filesystem::path projector;  // mmproj; "" = none
};

// "-m MODEL [--rpc HOST:PORT,…] -c N -np N -ctk T -ctv T -fa on|off [--kv-unified] [-b N]
// [-ub N] [--swa-full] [-nkvo] [--no-mmap] [--n-cpu-moe N] [-ot PATTERN=CPU,…]
// [--spec-type draft-simple -md DRAFT -devd DEV -ngld 999 -ctkd T -ctvd T]
// [--spec-type draft-mtp -ctkd T -ctvd T] [--mmproj FILE -mmdev DEV] [--reranking |
// --embeddings]" followed by the plan's
// arguments (--device, -ngl, --tensor-split …). DEV is the plan's output device; the MTP
// arguments come from EstimateInput::mtp.
// -b, -ub, --swa-full, -nkvo, --no-mmap and -ot appear only where they differ from
// llama-server's defaults (config/types.h). Flash attention "auto" is passed as "on": the
// estimate assumed it, and what runs must be what was estimated (with "off" the compute
// buffers grow).
// --embeddings (EstimateInput::embeddings) and --reranking (::reranking, which implies it)
// change what llama-server allocates, which the estimate does not yet model: it forces
// n_batch = n_ubatch and reserves one output row per batch token (server_output_limits)
// instead of one per slot.
// Ports, hosts and a preset's own arguments are the spawner's business, not this one's.
std::vector<std::string> server_args(const ServerFiles& files, const EstimateInput& in,
                                     const Estimate& est, const Plan& plan);

// The arguments quoted for a shell, for people to copy: 'a b' → "'a b'".
std::string shell_quote(const std::vector<std::string>& args);

} // namespace ask::router
