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
  // Only for arrays of strings named in ReadOptions::hash_items: a 64-bit FNV-1a hash of
  // each item, in order, whether or not the items are kept.
  std::vector<std::uint64_t> item_hashes;
  bool items_hashed = false;
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

// ggml tensor type ids as in llama.cpp's ggml.h (F32 = 0 ... MXFP4 = 39, NVFP4 = 40, Q1_0 = 41;
// ids 4, 5, 31-33 and 36-38 were removed).
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
  // Size of the data section as ggml lays it out: every tensor padded to `alignment`.
  std::uint64_t data_size = 0;
  // How many bytes of the file were read to parse it (read_file only; 0 from parse()).
  std::uint64_t bytes_read = 0;

  const Value* find(std::string_view key) const;
  std::optional<std::uint64_t> get_uint(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  // general.architecture, e.g. "llama", "gemma3", "qwen3moe"; empty when missing.
  std::string architecture() const;
  // Sum of n_bytes over every tensor.
  std::uint64_t tensor_bytes() const;
  // The tensor called `name`, or nullptr.
  const TensorInfo* find_tensor(std::string_view name) const;
};

// Limits applied to untrusted files (a file past one of them is refused with bad_request).
inline constexpr std::uint64_t k_max_string_bytes = 64ull << 20;  // one metadata string
inline constexpr std::uint64_t k_max_key_bytes = 64ull << 10;     // one metadata key
inline constexpr std::uint64_t k_max_tensor_name = 1024;          // ggml itself allows 63
inline constexpr std::uint64_t k_max_metadata_count = 1ull << 16; // key/value pairs
inline constexpr std::uint64_t k_max_tensor_count = 1ull << 18;   // real models: < 40k
inline constexpr std::uint32_t k_max_dims = 4;                    // GGML_MAX_DIMS
inline constexpr std::uint32_t k_max_array_depth = 8;             // arrays of arrays of ...
inline constexpr std::uint64_t k_max_kept_items = 1ull << 20;     // kept array items, whole file
inline constexpr std::uint64_t k_max_header_bytes = 256ull << 20; // read_file's prefix cap
inline constexpr std::uint64_t k_default_alignment = 32;
inline constexpr std::uint64_t k_max_hashed_items = 1ull << 21; // per hashed array

// What the reader computes beyond the defaults.
struct ReadOptions {
  // Keys of string arrays whose items are hashed one by one (Array::item_hashes), e.g.
  // "tokenizer.ggml.tokens" to compare two vocabularies token by token without keeping
  // either list. An array of more than k_max_hashed_items is not hashed (items_hashed false).
  std::vector<std::string> hash_items;
};

// Parses a GGUF image held in memory (for tests and the fuzzer). `file_size` defaults to
// bytes.size().
Result<File> parse(std::string_view bytes);
// Parses the first bytes.size() bytes of a file of `file_size` bytes: tensor data bounds are
// checked against `file_size`. Fails (bad_request) when the header runs past `bytes`.
Result<File> parse(std::string_view bytes, std::uint64_t file_size);
// Reads the metadata of a file on disk without loading the weights (reads a bounded prefix
// and grows it only as far as the header needs). Errors: not_found when the file is
// missing, bad_request when it is not a valid GGUF file, internal on I/O errors.
Result<File> read_file(const std::filesystem::path& path);
Result<File> read_file(const std::filesystem::path& path, const ReadOptions& options);

// A model stored as one file or as split parts (`name-00001-of-00003.gguf`).
struct SplitModel {
  std::vector<std::filesystem::path> paths; // every part in order; one for an unsplit file
  std::vector<File> parts;                  // same order; parts[0] holds the model metadata
  const File& first() const { return parts.front(); }
  std::uint64_t tensor_count() const;
  std::uint64_t tensor_bytes() const; // sum over all parts
  std::uint64_t file_size() const;    // sum over all parts
};
// Reads a model given any of its parts (usually the first). Finds the other parts from the
// `-0000N-of-0000M.gguf` name and the `split.count` / `split.no` metadata (0-based, as
// llama.cpp's gguf-split writes them), checks they agree and that no tensor is repeated.
// A missing part fails with not_found naming it. An unsplit file gives one part.
Result<SplitModel> read_model(const std::filesystem::path& path);
// The same, reading the first part (the one that holds the metadata) with `options`.
Result<SplitModel> read_model(const std::filesystem::path& path, const ReadOptions& options);
// What a split part's name says: "<prefix>-00002-of-00003.gguf" is part 2 of 3.
struct SplitPart {
  std::filesystem::path prefix; // the path without "-0000N-of-0000M.gguf"
  std::uint32_t part = 0;       // 1-based
  std::uint32_t count = 0;
};
// nullopt for a name not of that shape (5 digits each, 1 <= part <= count).
std::optional<SplitPart> split_part(const std::filesystem::path& path);
// The path of split part `part` (1-based) of `count`: "<prefix>-00002-of-00003.gguf", as
// llama.cpp's llama_split_path() names them.
std::filesystem::path split_path(const std::filesystem::path& prefix, std::uint32_t part,
                                 std::uint32_t count);

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

  // Added for the VRAM estimator (see gguf_arch.cpp for the rules and their llama.cpp
  // sources).
  std::vector<std::uint64_t> n_ff;         // per layer, feed_forward_length (0 when absent)
  std::vector<bool> has_kv_layer;          // per layer: the layer holds a KV cache
  std::uint64_t n_embd_head_k_swa = 0;     // key_length_swa, else n_embd_head_k
  std::uint64_t n_embd_head_v_swa = 0;     // value_length_swa, else n_embd_head_v
  bool swa_chunked = false;                // llama4: chunked attention instead of a window
  std::uint64_t ssm_dt_rank = 0;           // ssm.time_step_rank
  std::uint64_t wkv_head_size = 0;         // RWKV: wkv.head_size
  std::uint64_t token_shift_count = 0;     // RWKV: token_shift_count
  std::uint64_t shortconv_l_cache = 0;     // LFM2: shortconv.l_cache
  std::uint64_t n_expert_shared = 0;       // expert_shared_count
  // nextn_predict_layers: the last n_layer_nextn of the n_layer layers are multi-token
  // prediction (MTP / NextN) heads, not part of the trunk (llama_hparams::n_layer_nextn;
  // n_layer() there is n_layer - n_layer_nextn). 0 when absent.
  std::uint64_t n_layer_nextn = 0;
  std::uint64_t n_layer_recurrent() const; // layers with recurrent state
  std::uint64_t n_layer_kv() const;        // layers with a KV cache
  std::uint64_t n_layer_swa() const;       // KV layers that use the sliding window
};
// Fails (bad_request, naming the key) when general.architecture or `<arch>.block_count` is
// missing, a key has the wrong type, a per-layer array lacks one entry per layer, or
// `<arch>.nextn_predict_layers` exceeds block_count.
Result<ArchParams> arch_params(const File& file);

} // namespace ask::core::gguf
