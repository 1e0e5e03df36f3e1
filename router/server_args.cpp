#include "router/server_args.h"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace ask::router {

std::vector<std::string> server_args(const ServerFiles& files, const EstimateInput& in,
                                     const Estimate& est, const Plan& plan) {
  std::vector<std::string> args = {"-m",
                                   files.model.string(),
                                   "-c",
                                   std::to_string(est.n_ctx),
                                   "-np",
                                   std::to_string(in.parallel),
                                   "-ctk",
                                   in.cache_type_k,
                                   "-ctv",
                                   in.cache_type_v,
                                   "-fa",
                                   in.flash_attn ? "on" : "off"};
  // llama-server handles its arguments in order, and an rpc device exists only once --rpc
  // has registered its server: before -devd, -mmdev and --device name it.
  if (!plan.rpc.empty()) {
    std::string list;
    for (const std::string& endpoint : plan.rpc) {
      list += (list.empty() ? "" : ",") + endpoint;
    }
    args.insert(args.begin() + 2, {"--rpc", list});
  }
  // -c, -np, the cache types and -fa are always given: the scheduler counts the slots, and a
  // llama-server build whose defaults differ runs what was estimated all the same. With -np
  // given, llama-server's KV cache is per slot unless -kvu says otherwise.
  if (in.kv_unified) {
    args.emplace_back("--kv-unified");
  }
  // The rest only where the estimate assumed other than llama-server's default.
  if (in.n_batch != static_cast<std::uint32_t>(config::k_llama_default_batch)) {
    args.insert(args.end(), {"-b", std::to_string(in.n_batch)});
  }
  if (in.n_ubatch != static_cast<std::uint32_t>(config::k_llama_default_ubatch)) {
    args.insert(args.end(), {"-ub", std::to_string(in.n_ubatch)});
  }
  if (in.swa_full) {
    args.emplace_back("--swa-full");
  }
  if (!in.kv_offload) {
    args.emplace_back("-nkvo");
  }
  if (!in.mmap) {
    args.emplace_back("--no-mmap");
  }
  if (in.n_cpu_moe > 0) {
    args.insert(args.end(), {"--n-cpu-moe", std::to_string(in.n_cpu_moe)});
  }
  // One -ot with a comma-separated list: llama-server warns about a repeated flag.
  if (!in.overrides.empty()) {
    std::string list;
    for (const TensorOverride& o : in.overrides) {
      list += (list.empty() ? "" : ",") + o.pattern + "=" + o.buffer_type;
    }
    args.insert(args.end(), {"-ot", list});
  }
  // The estimate charges the draft (whole, with a KV cache of the main model's types) and the
  // projector to the output GPU; left alone llama-server would spread the draft over every
  // device and put the projector on the first.
  const std::string& output_device = plan.output_device.empty() ? "none" : plan.output_device;
  // The speculative type is explicit: left to infer it from the draft file, llama-server
  // would take a draft whose last layer has MTP tensors for an MTP head
  // (common_speculative_types_from_gguf).
  if (!files.draft.empty()) {
    args.insert(args.end(), {"--spec-type", "draft-simple", "-md", files.draft.string(), "-devd",
                             output_device, "-ngld", output_device == "none" ? "0" : "999",
                             "-ctkd", in.cache_type_k, "-ctvd", in.cache_type_v});
  }
  // MTP: a second context over the model's own MTP layers, on their device; its KV cache
  // takes the draft cache types, which the estimate took to be the model's.
  if (in.mtp) {
    args.insert(args.end(), {"--spec-type", "draft-mtp", "-ctkd", in.cache_type_k, "-ctvd",
                             in.cache_type_v});
  }
  if (!files.projector.empty()) {
    args.insert(args.end(), {"--mmproj", files.projector.string(), "-mmdev", output_device});
  }
  // /v1/embeddings and /v1/rerank answer only when the server was started for them (a 501
  // otherwise). --reranking implies --embeddings with rank pooling; --embeddings keeps the
  // model's own pooling, and a GGUF without one (a chat model) then refuses /v1/embeddings
  // ("Pooling type 'none' is not OAI compatible"): `--pooling mean` in extra_args fixes it.
  if (in.reranking) {
    args.emplace_back("--reranking");
  } else if (in.embeddings) {
    args.emplace_back("--embeddings");
  }
  args.insert(args.end(), plan.args.begin(), plan.args.end());
  return args;
}

std::string shell_quote(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) {
    if (!out.empty()) {
      out += ' ';
    }
    const bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
             std::string_view("-_./,=:+@%").find(c) != std::string_view::npos;
    });
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    out += '\'';
  }
  return out;
}

} // namespace ask::router
