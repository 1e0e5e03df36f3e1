#pragma once
// The OpenAI chat-completions door (POST /v1/chat/completions) as a Dialect: the request is
// already chat, so it passes as it is; streams are "data: {chunk}" frames ending in
// "data: [DONE]", and errors askd's OpenAI-shaped body.

#include "proxy/dialect.h"

namespace ask::proxy {

// The one instance (it holds no state).
const Dialect& chat_dialect();

} // namespace ask::proxy
