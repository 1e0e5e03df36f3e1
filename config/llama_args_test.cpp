// llama-server's command line as askd reads it: every alias of the memory settings folded,
// askd's own flags refused with their values skipped, malformed values named, the rest passed
// through in order; the flag table checked against the recorded llama-server --help.

#include "config/llama_args.h"

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace ask::config {
namespace {

ParsedLlamaArgs parse(std::vector<std::string> args) {
  return parse_llama_args(args);
}

bool has_problem(const ParsedLlamaArgs& p, std::size_t index, std::string_view needle) {
  for (const ArgProblem& problem : p.problems) {
    if (problem.index == index && problem.message.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string problems(const ParsedLlamaArgs& p) {
  std::string out;
  for (const ArgProblem& problem : p.problems) {
    out += "[" + std::to_string(problem.index) + "] " + problem.message + "\n";
  }
  return out;
}

// llama-server --help as recorded: each entry's flags, whether it takes a value, its env.
struct HelpEntry {
  std::vector<std::string> names;
  int values = 0;
  std::string env;
};

std::vector<HelpEntry> help_entries() {
  std::ifstream in(std::string(ASK_SOURCE_DIR) + "/tests/fixtures/llama-server/help.txt");
  REQUIRE(in);
  const std::regex name_re(R"(^\s*(--?[A-Za-z0-9][A-Za-z0-9_.-]*))");
  const std::regex env_re(R"(\(env: ([A-Z0-9_]+)\))");
  std::vector<HelpEntry> out;
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.empty() || line[0] != '-' || line.starts_with("-----")) {
      if (!out.empty() && std::regex_search(line, m, env_re)) {
        out.back().env = m[1];
      }
      continue;
    }
    // The flags end at the description column (40), or fill the line when they overflow it.
    std::string spec = line.size() > 40 && line.compare(38, 2, "  ") == 0 && line[40] != ' '
                           ? line.substr(0, 40)
                           : line;
    HelpEntry e;
    while (std::regex_search(spec, m, name_re)) {
      e.names.push_back(m[1]);
      spec = m.suffix();
      if (!spec.starts_with(",")) {
        break;
      }
      spec.erase(0, 1);
    }
    spec = std::regex_replace(spec, std::regex("<[^>]*>"), "X");
    std::istringstream words(spec);
    for (std::string w; words >> w;) {
      ++e.values;
    }
    if (std::regex_search(line, m, env_re)) {
      e.env = m[1];
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::set<std::string> help_names() {
  std::set<std::string> names;
  for (const HelpEntry& e : help_entries()) {
    names.insert(e.names.begin(), e.names.end());
  }
  return names;
}

} // namespace

TEST_CASE("llama args: the value table matches llama-server's --help, flag by flag") {
  const auto entries = help_entries();
  CHECK(entries.size() > 240);
  std::size_t with_values = 0;
  for (const HelpEntry& e : entries) {
    for (const std::string& name : e.names) {
      CAPTURE(name);
      CHECK(llama_flag_values(name) == e.values);
      with_values += e.values > 0 ? 1 : 0;
    }
  }
  CHECK(with_values == 285);
  CHECK(llama_flag_values("--rpc") == 1); // builds with RPC only: not in help.txt
  CHECK(llama_flag_values("--sim-fault") == 0);
}

TEST_CASE("llama args: every alias of every setting is folded and leaves the command line") {
  const std::set<std::string> help = help_names();
  const auto one = [&](std::vector<std::string> args) {
    CAPTURE(args[0]);
    CHECK(help.contains(args[0]));
    ParsedLlamaArgs p = parse(args);
    CHECK_MESSAGE(p.problems.empty(), problems(p));
    CHECK(p.rest.empty());
    REQUIRE(p.given.size() == 1);
    CHECK(p.given[0].index == 0);
    CHECK_FALSE(p.given[0].kept);
    return p;
  };
  for (const char* f : {"-c", "--ctx-size"}) {
    CHECK(one({f, "8192"}).settings.ctx == 8192);
  }
  for (const char* f : {"-np", "--parallel"}) {
    CHECK(one({f, "3"}).settings.parallel == 3);
  }
  for (const char* f : {"-b", "--batch-size"}) {
    CHECK(one({f, "4096"}).settings.batch == 4096);
  }
  for (const char* f : {"-ub", "--ubatch-size"}) {
    CHECK(one({f, "1024"}).settings.ubatch == 1024);
  }
  for (const char* f : {"-kvu", "--kv-unified"}) {
    CHECK(one({f}).settings.kv_unified == true);
  }
  for (const char* f : {"-no-kvu", "--no-kv-unified"}) {
    CHECK(one({f}).settings.kv_unified == false);
  }
  CHECK(one({"--swa-full"}).settings.swa_full == true);
  for (const char* f : {"-kvo", "--kv-offload"}) {
    CHECK(one({f}).settings.kv_offload == true);
  }
  for (const char* f : {"-nkvo", "--no-kv-offload"}) {
    CHECK(one({f}).settings.kv_offload == false);
  }
  CHECK(one({"--mmap"}).settings.mmap == true);
  CHECK(one({"--no-mmap"}).settings.mmap == false);
  for (const char* f : {"-ndio", "--no-direct-io"}) {
    CHECK(one({f}).settings.mmap == false);
  }
  for (const char* f : {"-lm", "--load-mode"}) {
    CHECK(one({f, "none"}).settings.mmap == false);
    CHECK(one({f, "mmap"}).settings.mmap == true);
    CHECK(one({f, "auto"}).settings.mmap == true);
  }
  for (const char* f : {"-ctk", "--cache-type-k"}) {
    CHECK(one({f, "q8_0"}).settings.cache_type_k == "q8_0");
  }
  for (const char* f : {"-ctv", "--cache-type-v"}) {
    CHECK(one({f, "q4_0"}).settings.cache_type_v == "q4_0");
  }
  for (const char* f : {"-fa", "--flash-attn"}) {
    CHECK(one({f, "on"}).settings.flash_attn == FlashAttn::on);
  }
  for (const char* f : {"-ot", "--override-tensor"}) {
    CHECK(one({f, "exps=CPU"}).settings.override_tensors ==
          std::vector<TensorOverride>{{"exps", "CPU"}});
  }
  for (const char* f : {"-cmoe", "--cpu-moe"}) {
    CHECK(one({f}).settings.override_tensors ==
          std::vector<TensorOverride>{{std::string(k_cpu_moe_pattern), "CPU"}});
  }
  for (const char* f : {"-ncmoe", "--n-cpu-moe"}) {
    CHECK(one({f, "12"}).settings.n_cpu_moe == 12);
  }
  for (const char* f : {"-mm", "--mmproj"}) {
    CHECK(one({f, "vision/mmproj.gguf"}).settings.mmproj == "vision/mmproj.gguf");
  }
}

TEST_CASE("llama args: flash attention and -np take what arg.cpp and server.cpp take") {
  const auto fa = [](const char* v) { return parse({"-fa", v}).settings.flash_attn; };
  for (const char* v : {"on", "enabled", "true", "1"}) {
    CHECK(fa(v) == FlashAttn::on);
  }
  for (const char* v : {"off", "disabled", "false", "0"}) {
    CHECK(fa(v) == FlashAttn::off);
  }
  CHECK(fa("auto") == FlashAttn::automatic);
  CHECK(fa("-1") == FlashAttn::automatic);
  // A negative -np is llama-server's automatic choice; folding it leaves parallel unset.
  CHECK(parse({"-np", "-1"}).settings.parallel == k_parallel_auto);
  CHECK(parse({"-np", "-7"}).settings.parallel == k_parallel_auto);
  ManagedSpec spec;
  spec.parallel = 2;
  fold_llama_settings(parse({"-np", "-1"}).settings, spec);
  CHECK_FALSE(spec.parallel.has_value());
  CHECK(spec.slots() == 4);
  CHECK(spec.unified_kv());
}

TEST_CASE("llama args: load modes that do more than mmap stay on the command line") {
  for (std::vector<std::string> args : {std::vector<std::string>{"--mlock"},
                                        {"-dio"},
                                        {"--direct-io"},
                                        {"-lm", "mlock"},
                                        {"--load-mode", "dio"}}) {
    CAPTURE(args[0]);
    const ParsedLlamaArgs p = parse(args);
    CHECK(p.problems.empty());
    CHECK(p.settings.mmap == false);
    CHECK(p.rest == args);
    REQUIRE(p.given.size() == 1);
    CHECK(p.given[0].kept);
  }
  const ParsedLlamaArgs both = parse({"-lm", "mmap+mlock"});
  CHECK(both.settings.mmap == true);
  CHECK(both.rest == std::vector<std::string>{"-lm", "mmap+mlock"});
}

TEST_CASE("llama args: --long_name is --long-name - the last of a repeated setting wins") {
  const ParsedLlamaArgs p =
      parse({"--ctx_size", "1024", "-c", "2048", "--ubatch_size", "256", "--no_kv_offload"});
  CHECK_MESSAGE(p.problems.empty(), problems(p));
  CHECK(p.settings.ctx == 2048);
  CHECK(p.settings.ubatch == 256);
  CHECK(p.settings.kv_offload == false);
  CHECK(p.given.size() == 4);
  CHECK(p.rest.empty());
  // -ot appends, as llama-server does, including a comma-separated list.
  const ParsedLlamaArgs ot = parse({"-ot", "a=CPU,b=CPU", "--override-tensor", "c=CPU"});
  CHECK(ot.settings.override_tensors ==
        std::vector<TensorOverride>{{"a", "CPU"}, {"b", "CPU"}, {"c", "CPU"}});
}

TEST_CASE("llama args: what does not change memory passes through in order, values and all") {
  const std::vector<std::string> args = {
      "--jinja", "-t",  "8",           "--alias",        "-c",  "--pooling",
      "mean",    "-n",  "-1",          "--no-such-flag", "-x",  "--control-vector-layer-range",
      "-c",      "-ub", "--embedding", "--fit",          "off", "-lv",
      "3"};
  const ParsedLlamaArgs p = parse(args);
  CHECK_MESSAGE(p.problems.empty(), problems(p));
  CHECK(p.given.empty()); // "-c" was --alias's value, "-c -ub" the layer range's two
  CHECK(p.rest == args);
  // "--flag=value" of a flag llama-server does not have is not ours to judge.
  CHECK(parse({"--no-such=1"}).rest == std::vector<std::string>{"--no-such=1"});
}

TEST_CASE(
    "llama args: askd's placement, model, draft and server flags are refused, values skipped") {
  const std::set<std::string> help = help_names();
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"-ts", "3,1"},
       "\"-ts\" is decided by askd's placement; remove it (see docs/config.md "
       "\"Memory settings\")"},
      {{"--tensor-split", "1"}, "\"--tensor-split\" is decided by askd's placement"},
      {{"-sm", "row"}, "\"-sm\" is decided by askd's placement"},
      {{"--split-mode", "none"}, "\"--split-mode\" is decided by askd's placement"},
      {{"-mg", "1"}, "\"-mg\" is decided by askd's placement"},
      {{"--main-gpu", "0"}, "\"--main-gpu\" is decided by askd's placement"},
      {{"-dev", "CUDA0"}, "\"-dev\" is decided by askd's placement"},
      {{"--device", "none"}, "\"--device\" is decided by askd's placement"},
      {{"--rpc", "h:50052"}, "\"--rpc\" is decided by askd's placement"},
      {{"-mmdev", "CUDA1"}, "\"-mmdev\" is decided by askd's placement"},
      {{"--no-mmproj-offload"}, "\"--no-mmproj-offload\" is decided by askd's placement"},
      {{"-ngl", "99"}, "\"-ngl\" is decided by askd's placement; set \"n_gpu_layers\""},
      {{"--gpu-layers", "all"}, "\"--gpu-layers\" is decided by askd's placement"},
      {{"--n-gpu-layers", "10"}, "\"--n-gpu-layers\" is decided by askd's placement"},
      {{"--host", "0.0.0.0"}, "askd sets --host itself when it starts llama-server"},
      {{"--port", "1"}, "askd sets --port itself"},
      {{"-m", "x.gguf"},
       "askd sets -m itself when it starts llama-server: the model file is "
       "\"gguf\""},
      {{"-hf", "org/model"}, "askd sets -hf itself"},
      {{"--model-url", "http://x"}, "askd sets --model-url itself"},
      {{"-md", "d.gguf"},
       "askd sets -md itself when it starts llama-server: set \"draft\" or "
       "\"mtp\""},
      {{"--spec-type", "draft-mtp"}, "askd sets --spec-type itself"},
      {{"-ctkd", "q8_0"}, "askd sets -ctkd itself when it starts llama-server: the draft model"},
      {{"-devd", "CUDA0"}, "askd sets -devd itself"},
      {{"-ngld", "99"}, "askd sets -ngld itself"},
      {{"-otd", "x=CPU"}, "askd sets -otd itself"},
      {{"-cmoed"}, "askd sets -cmoed itself"},
      {{"--lora", "a.gguf"}, "\"--lora\" loads what askd's memory estimate cannot count"},
      {{"-mmu", "http://x"}, "\"-mmu\" loads what askd's memory estimate cannot count"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args[0]);
    if (c.args[0] != "--rpc") {
      CHECK(help.contains(c.args[0]));
    }
    std::vector<std::string> args = c.args;
    args.insert(args.end(), {"-c", "512"}); // read as a flag again once the values are skipped
    const ParsedLlamaArgs p = parse(args);
    CHECK_MESSAGE(has_problem(p, 0, c.needle), problems(p));
    CHECK(p.problems.size() == 1);
    CHECK(p.settings.ctx == 512);
    CHECK(p.rest.empty());
  }
}

TEST_CASE("llama args: malformed values and missing values name the flag") {
  struct Case {
    std::vector<std::string> args;
    std::size_t index;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"-c"}, 0, "\"-c\" expects a value, and the arguments end here"},
      {{"--jinja", "-ub"}, 1, "\"-ub\" expects a value"},
      {{"--control-vector-layer-range", "1"}, 0, "expects two values"},
      {{"-c", "lots"}, 0, "\"-c\": expected a whole number of at least 0, got \"lots\""},
      {{"-c", "-5"}, 0, "\"-c\": expected a whole number of at least 0, got \"-5\""},
      {{"-c", "4096x"}, 0, "got \"4096x\""},
      {{"-c", ""}, 0, "got \"\""},
      {{"-c", "99999999999"}, 0, "got \"99999999999\""},
      {{"-ub", "0"}, 0, "\"-ub\": expected a whole number of at least 1, got \"0\""},
      {{"-b", "-2048"}, 0, "\"-b\": expected a whole number of at least 1"},
      {{"--batch-size", "2k"}, 0, "\"--batch-size\": expected a whole number"},
      {{"-np", "0"}, 0, "\"-np\": 0 slots is refused by llama-server"},
      {{"-np", "257"}, 0, "\"-np\": expected a whole number from 1 to 256, got \"257\""},
      {{"-np", "four"}, 0, "\"-np\": expected a whole number from 1 to 256"},
      {{"-ncmoe", "-1"}, 0, "\"-ncmoe\": expected a whole number of at least 0"},
      {{"-ctk", "q3_k"}, 0, "\"-ctk\": unknown cache type \"q3_k\" (one of f32, f16"},
      {{"--cache-type-v", "Q8_0"}, 0, "unknown cache type \"Q8_0\""},
      {{"-fa", "maybe"}, 0, "\"-fa\": expected on, off or auto, got \"maybe\""},
      {{"-fa", "--jinja"}, 0, "got \"--jinja\""}, // arg.cpp takes the next argument as is
      {{"-lm", "fast"}, 0, "\"-lm\": expected auto, none, mmap, mlock, mmap+mlock or dio"},
      {{"-mm", ""}, 0, "\"-mm\": expected a file, got an empty string"},
      {{"--ctx-size=4096"},
       0,
       "llama-server does not read \"--ctx-size=4096\": give "
       "\"--ctx-size\" and \"4096\" as two arguments"},
      {{"--jinja", "--ubatch_size=64"}, 1, "does not read \"--ubatch_size=64\""},
      {{"--host=0.0.0.0"}, 0, "askd sets --host itself"},
      {{"--tensor-split=1,1"}, 0, "\"--tensor-split\" is decided by askd's placement"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args.back());
    const ParsedLlamaArgs p = parse(c.args);
    CHECK_MESSAGE(has_problem(p, c.index, c.needle), problems(p));
    CHECK(p.given.empty());
  }
}

TEST_CASE("llama args: -ot items: host memory only, a pattern that compiles, no stray commas") {
  struct Case {
    std::string value;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"exps", "\"exps\": expected PATTERN=CPU"},
      {"=CPU", "the pattern is empty"},
      {"blk\\.(0=CPU", "invalid regular expression \"blk\\.(0\""},
      {"[a-=CPU", "invalid regular expression"},
      {"exps=CUDA0", "buffer type \"CUDA0\" would put tensors on a device: which GPU holds what "
                     "is decided by askd's placement; only \"CPU\""},
      {"exps=Vulkan1", "buffer type \"Vulkan1\" would put tensors on a device"},
      {"exps=cpu", "unknown buffer type \"cpu\" (llama.cpp's names are case-sensitive"},
      {"exps=", "buffer type \"\" would put tensors on a device"},
      {"a=CPU,", "\"\": expected PATTERN=CPU"}, // llama-server splits a trailing comma too
  };
  for (const Case& c : cases) {
    CAPTURE(c.value);
    const ParsedLlamaArgs p = parse({"-ot", c.value});
    CHECK_MESSAGE(has_problem(p, 0, c.needle), problems(p));
    CHECK(p.settings.override_tensors.empty()); // one bad item refuses the argument
  }
  const auto comma = parse_tensor_override("blk\\.[0-9]{1,2}\\.ffn=CPU");
  REQUIRE_FALSE(comma);
  CHECK(comma.error().find("cannot hold a ','") != std::string::npos);
  const auto ok = parse_tensor_override("blk\\.(1|2)\\.ffn_.*=CPU");
  REQUIRE(ok);
  CHECK(ok->pattern == "blk\\.(1|2)\\.ffn_.*");
  CHECK(ok->buffer_type == "CPU");
}

TEST_CASE("llama args: -cmoe's pattern takes every expert tensor and nothing else") {
  const std::regex experts{std::string(k_cpu_moe_pattern)};
  for (const char* name :
       {"blk.0.ffn_up_exps.weight", "blk.47.ffn_down_exps.weight", "blk.3.ffn_gate_exps.weight",
        "blk.3.ffn_gate_up_exps.weight", "blk.1.ffn_down_chexps.weight"}) {
    CAPTURE(name);
    CHECK(std::regex_search(name, experts));
  }
  for (const char* name : {"blk.0.ffn_up.weight", "blk.0.ffn_up_shexp.weight",
                           "blk.0.ffn_gate_inp.weight", "blk.0.attn_q.weight"}) {
    CAPTURE(name);
    CHECK_FALSE(std::regex_search(name, experts));
  }
}

TEST_CASE("llama args: LLAMA_ARG_* variables of askd's settings map to their flags") {
  std::map<std::string, std::vector<std::string>> env_names; // env → the entry's flags
  for (const HelpEntry& e : help_entries()) {
    if (!e.env.empty()) {
      env_names[e.env] = e.names;
    }
  }
  for (const char* env : {"LLAMA_ARG_CTX_SIZE",
                          "LLAMA_ARG_N_PARALLEL",
                          "LLAMA_ARG_BATCH",
                          "LLAMA_ARG_UBATCH",
                          "LLAMA_ARG_KV_UNIFIED",
                          "LLAMA_ARG_SWA_FULL",
                          "LLAMA_ARG_KV_OFFLOAD",
                          "LLAMA_ARG_MMAP",
                          "LLAMA_ARG_LOAD_MODE",
                          "LLAMA_ARG_MLOCK",
                          "LLAMA_ARG_DIO",
                          "LLAMA_ARG_CACHE_TYPE_K",
                          "LLAMA_ARG_CACHE_TYPE_V",
                          "LLAMA_ARG_FLASH_ATTN",
                          "LLAMA_ARG_OVERRIDE_TENSOR",
                          "LLAMA_ARG_CPU_MOE",
                          "LLAMA_ARG_N_CPU_MOE",
                          "LLAMA_ARG_MMPROJ",
                          "LLAMA_ARG_N_GPU_LAYERS",
                          "LLAMA_ARG_TENSOR_SPLIT",
                          "LLAMA_ARG_SPLIT_MODE",
                          "LLAMA_ARG_MAIN_GPU",
                          "LLAMA_ARG_DEVICE",
                          "MTMD_BACKEND_DEVICE",
                          "LLAMA_ARG_MODEL",
                          "LLAMA_ARG_HOST",
                          "LLAMA_ARG_PORT",
                          "LLAMA_ARG_SPEC_DRAFT_MODEL",
                          "LLAMA_ARG_SPEC_TYPE",
                          "LLAMA_ARG_SPEC_DRAFT_CACHE_TYPE_K"}) {
    CAPTURE(env);
    const auto flag = llama_env_flag(env);
    REQUIRE(flag);
    REQUIRE(env_names.contains(env));
    CHECK(std::ranges::find(env_names[env], *flag) != env_names[env].end());
  }
  CHECK_FALSE(llama_env_flag("LLAMA_ARG_THREADS"));
  CHECK_FALSE(llama_env_flag("CUDA_VISIBLE_DEVICES"));
  CHECK_FALSE(llama_env_flag(""));
}

TEST_CASE("llama args: folding writes what was given and keeps the rest of a spec") {
  ManagedSpec spec;
  spec.ctx = 4096;
  spec.kv_cache_type = {"q8_0", "q8_0"};
  spec.override_tensors = {{"first", "CPU"}};
  const ParsedLlamaArgs p = parse(
      {"-ctv", "q4_0", "-ub", "128", "-nkvo", "-ot", "second=CPU", "-fa", "off", "-mm", "p.gguf"});
  REQUIRE(p.problems.empty());
  fold_llama_settings(p.settings, spec);
  CHECK(spec.ctx == 4096);
  CHECK(spec.kv_cache_type == KvCacheType{"q8_0", "q4_0"});
  CHECK(spec.ubatch == 128);
  CHECK_FALSE(spec.batch);
  CHECK(spec.kv_offload == false);
  CHECK_FALSE(spec.mmap);
  CHECK(spec.flash_attn == FlashAttn::off);
  CHECK(spec.override_tensors == std::vector<TensorOverride>{{"first", "CPU"}, {"second", "CPU"}});
  CHECK(spec.mmproj == std::filesystem::path("p.gguf"));
  CHECK(config_key(LlamaSetting::cache_type_v) == "kv_cache_type");
  CHECK(config_key(LlamaSetting::override_tensors) == "override_tensors");
}

} // namespace ask::config
