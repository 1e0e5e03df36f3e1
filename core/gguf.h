#pragma once
// GGUF (llama.cpp's model file format, v2 and v3) metadata reader: header, every metadata
// value type, tensor infos with their byte sizes, and the architecture parameters the VRAM
// estimator and llm-sim need. Reads metadata only, never the weights. Files are untrusted:
// every length and count is bounded, nothing is read past the end, and errors name the
// byte offset. Lives in core because both the router and llm-sim read GGUF files.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.h"

namespace ask::core::gguf {

enum class ValueType : std::uint32_t {
  uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6,
  boolean = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12,
};

struct Value;
struct Array {
  ValueType element_type = ValueType::uint8;
  std::uint64_t count = 0;
  // Kept only for arrays of at most k_max_kept_array elements (per-layer head counts and
  // the like); token lists and merges are counted and skipped.
  std::vector<Value> items;
  bool items_kept = false;
};

struct Value {
  ValueType type = ValueType::uint8;
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, Array> data;

  // Integer value of any integer type (and bool); nullopt for others or negative values.
  std::optional<std::uint64_t> as_uint() const;
  std::optional<double> as_float() const;
  const std::string* as_string() const;
  const Array* as_array() const;
};

inline constexpr std::uint64_t k_max_kept_array = 4096;

// ggml tensor type ids as in llama.cpp's ggml.h (F32 = 0 ... MXFP4 = 39).
struct TypeTraits {
  std::string_view name; // "F16", "Q4_K", ...
  std::uint32_t block_size = 0; // elements per block
  std::uint32_t type_size = 0;  // bytes per block
};
// nullopt for ids that are unknown or removed from ggml (Q4_2, Q4_3, ...).
std::optional<TypeTraits> type_traits(std::uint32_t ggml_type);

struct TensorInfo {
  std::string name;
  std::vector<std::uint64_t> dims;
  std::uint32_t type = 0;
  std::uint64_t offset = 0; // relative to the data section
  std::uint64_t n_elements = 0;
  std::uint64_t n_bytes = 0; // from the type's block size; bounded against overflow
};

struct File {
  std::uint32_t version = 0;
  std::uint64_t alignment = 32;
  std::map<std::string, Value, std::less<>> metadata;
  std::vector<TensorInfo> tensors;
  std::uint64_t data_offset = 0; // where tensor data starts (aligned)
  std::uint64_t file_size = 0;

  const Value* find(std::string_view key) const;
  std::optional<std::uint64_t> get_uint(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  // general.architecture, e.g. "llama", "gemma3", "qwen3moe"; empty when missing.
  std::string architecture() const;
  // Sum of n_bytes over every tensor.
  std::uint64_t tensor_bytes() const;
};

// Parses a GGUF image held in memory (for tests and the fuzzer). `file_size` defaults to
// bytes.size().
Result<File> parse(std::string_view bytes);
// Reads the metadata of a file on disk without loading the weights (reads a bounded prefix
// and grows it only as far as the header needs).
Result<File> read_file(const std::filesystem::path& path);

// Architecture parameters from `<arch>.*` keys. Per-layer values (arrays) are expanded to
// one entry per layer; scalars are repeated.
struct ArchParams {
  std::string arch;
  std::uint64_t n_layer = 0;
  std::uint64_t n_embd = 0;
  std::uint64_t n_ctx_train = 0;
  std::uint64_t n_vocab = 0;
  std::vector<std::uint64_t> n_head;    // per layer
  std::vector<std::uint64_t> n_head_kv; // per layer
  std::uint64_t n_embd_head_k = 0;      // key_length, else n_embd / n_head
  std::uint64_t n_embd_head_v = 0;      // value_length, else n_embd / n_head
  std::uint64_t sliding_window = 0;     // 0 when none
  std::vector<bool> is_swa_layer;       // per layer, from sliding_window_pattern
  std::uint64_t n_expert = 0;
  std::uint64_t n_expert_used = 0;
  std::uint64_t ssm_d_conv = 0, ssm_d_inner = 0, ssm_d_state = 0, ssm_n_group = 0;
  std::vector<bool> is_recurrent_layer; // per layer (hybrid models)
};
Result<ArchParams> arch_params(const File& file);

} // namespace ask::core::gguf
