#pragma once
// Standard base64 (RFC 4648 section 4: "+/" alphabet, '=' padding, no line breaks): what data:
// URLs (ask's image attachments) and OpenAI's base64 embeddings carry.

#include <string>
#include <string_view>

namespace ask::core {

// `bytes` in standard base64 with padding; "" for "".
std::string base64_encode(std::string_view bytes);

} // namespace ask::core
