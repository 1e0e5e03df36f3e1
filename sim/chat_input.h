#pragma once
// What both APIs take from a chat request before generating: the messages as plain text
// (with "[[sim: ...]]" directives taken out of the last user message), the tools, and the
// faults that apply to this request.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "sim/fault.h"
#include "sim/generator.h"
#include "sim/http.h"

namespace ask::sim {

struct ChatInput {
  std::vector<ChatTurn> messages;
  std::vector<ToolDef> tools;
  std::optional<std::string> directive; // the spec of the directives found, if any
};

// obj[key] when `obj` is an object holding a string there, else "" (never throws).
std::string string_field(const nlohmann::json& obj, const char* key);
// True when obj[key] is the boolean true (never throws).
bool flag_field(const nlohmann::json& obj, const char* key);

// The text of a message's content: a string, or the "text" parts of an array joined with
// "\n"; anything else is empty.
std::string content_text(const nlohmann::json& content);

// `messages` must be an array (callers check and answer in their API's words). Entries
// that are not objects are skipped.
ChatInput read_chat_input(const nlohmann::json& messages, const nlohmann::json& tools);

// The request's faults: `process` (--sim-fault), then the directive, then the X-Sim-Fault
// header, key by key. Errors (bad_request) name the bad key and where it came from.
core::Result<FaultSpec> request_faults(const FaultSpec& process,
                                       const std::optional<std::string>& directive,
                                       const HttpRequest& request);

// The names of the faults set in `spec` (crash and crash_after both count as "crash"),
// for the per-fault counters of /sim/stats.
std::vector<std::string> fault_names(const FaultSpec& spec);

} // namespace ask::sim
