// libFuzzer target: what another askd (a peer, proxy/peers.h) sends back, which askd reads
// as untrusted: its GET /v1/models reply (the input as JSON), the X-Served-By,
// X-Fallback-Path and X-Fallback-Reasons of its answers, and the X-Ask-Via a request brings
// (the input's lines as header values). Nothing may throw or crash; every model offered must
// have a name that can be labelled `name@machine` in askd's headers, and every label read
// from a head must end with the machine.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/json_text.h"
#include "proxy/askd_upstream.h"
#include "proxy/peers.h"

namespace {

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

bool labelled(std::string_view label) {
  return label.ends_with("@box2");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using namespace ask::proxy;

  if (auto json = ask::core::parse_json_text(text)) {
    if (auto listing = parse_peer_models(*json)) {
      check(listing->models.size() <= k_max_peer_models);
      for (const PeerModel& m : listing->models) {
        check(!m.name.empty() && m.name.size() <= 256);
        check(m.name.find_first_of("@,>=") == std::string::npos);
      }
    }
  }

  // Up to three lines: the head's values, in order; the whole input as X-Ask-Via.
  std::string_view lines[3];
  std::string_view rest = text;
  for (auto& line : lines) {
    const std::size_t nl = rest.find('\n');
    line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  ask::net::ResponseHead head;
  head.status = 200;
  head.headers = {{"X-Served-By", std::string(lines[0])},
                  {"X-Fallback-Path", std::string(lines[1])},
                  {"X-Fallback-Reasons", std::string(lines[2])}};
  const PeerAnswer answer = read_peer_answer(head, "box2");
  check(answer.served_by.empty() || labelled(answer.served_by));
  check(answer.path.size() <= 64 && answer.failed.size() <= 64);
  for (const std::string& p : answer.path) {
    check(labelled(p));
  }
  for (const auto& [model, reason] : answer.failed) {
    check(labelled(model) && !reason.empty());
  }

  if (auto via = parse_via(text)) {
    check(!via->empty() && via->size() <= k_max_hops + 1);
    for (const std::string& id : *via) {
      check(id.size() == 16);
    }
  }
  return 0;
}
