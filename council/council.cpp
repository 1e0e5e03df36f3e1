#include "council/council.h"

#include <algorithm>
#include <future>
#include <ranges>

#include "config/council_prompts.h"
#include "council/ranking.h"

namespace ask::council {
namespace {

using core::Json;

// The system messages of the client's request, kept for every member (and the chairman).
Json system_messages(const core::ChatRequest& request) {
  Json out = Json::array();
  for (const core::Message& m : request.messages) {
    if (m.role == "system" || m.role == "developer") {
      out.push_back({{"role", m.role}, {"content", m.text()}});
    }
  }
  return out;
}

// A non-streamed request to `model` with the system messages and one user message.
Json request_for(const std::string& model, const Json& systems, std::string user_text,
                 std::optional<double> temperature, const core::ChatRequest& original) {
  Json messages = systems;
  messages.push_back({{"role", "user"}, {"content", std::move(user_text)}});
  Json r = {{"model", model}, {"messages", std::move(messages)}, {"stream", false}};
  if (temperature) {
    r["temperature"] = *temperature;
  } else if (original.temperature) {
    r["temperature"] = *original.temperature;
  }
  if (auto limit = original.token_limit()) {
    r["max_tokens"] = *limit;
  }
  return r;
}

void add_usage(core::Usage& total, const std::optional<core::Usage>& usage) {
  if (usage) {
    total.prompt_tokens += usage->prompt_tokens;
    total.completion_tokens += usage->completion_tokens;
    total.total_tokens += usage->total_tokens;
  }
}

std::string template_of(const config::Council& council, config::PromptKind kind) {
  const std::string& configured = kind == config::PromptKind::member   ? council.prompts.member
                                  : kind == config::PromptKind::ranking ? council.prompts.ranking
                                                                        : council.prompts.chairman;
  return configured.empty() ? std::string(config::default_prompt(kind)) : configured;
}

// Asks every member at once; each outcome lands in its own slot.
std::vector<MemberOutcome> ask_members(const config::Council& council, const Json& systems,
                                       const std::string& question,
                                       const core::ChatRequest& request,
                                       core::Completer& completer) {
  const std::string prompt =
      config::render_prompt(template_of(council, config::PromptKind::member), {{"question", question}});
  std::vector<std::future<core::Result<core::Completion>>> calls;
  for (const config::CouncilMember& m : council.members) {
    Json r = request_for(m.model, systems, prompt, m.temperature, request);
    calls.push_back(std::async(std::launch::async,
                               [&completer, r = std::move(r)] { return completer.complete(r); }));
  }
  std::vector<MemberOutcome> out;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const config::CouncilMember& m = council.members[i];
    MemberOutcome o{m.model, m.label.empty() ? m.model : m.label, {}, {}, {}, {}, {}};
    auto done = calls[i].get();
    if (!done) {
      o.error = std::move(done.error());
    } else {
      o.served_by = done->served_by;
      o.fallback_path = done->fallback_path;
      o.usage = done->response.usage;
      const auto& choices = done->response.choices;
      o.answer = choices.empty() ? std::string() : choices[0].message.content.value_or("");
      if (o.answer->empty()) {
        o.error = core::Error::malformed_reply(o.served_by + " gave an empty answer");
        o.answer.reset();
      }
    }
    out.push_back(std::move(o));
  }
  return out;
}

// The peer-review stage: every member that answered ranks the anonymised responses.
std::string peer_review(const config::Council& council, const Json& systems,
                        const std::string& question, const std::string& responses,
                        const std::vector<std::string>& labels, Deliberation& d,
                        const core::ChatRequest& request, core::Completer& completer) {
  const std::string prompt = config::render_prompt(
      template_of(council, config::PromptKind::ranking),
      {{"question", question}, {"responses", responses}});
  std::vector<std::future<core::Result<core::Completion>>> calls;
  for (const MemberOutcome& m : d.members) {
    if (!m.answer) {
      continue;
    }
    Json r = request_for(m.model, systems, prompt, std::nullopt, request);
    calls.push_back(std::async(std::launch::async,
                               [&completer, r = std::move(r)] { return completer.complete(r); }));
  }
  std::vector<std::vector<std::string>> ballots;
  for (auto& call : calls) {
    auto done = call.get();
    if (!done || done->response.choices.empty()) {
      continue; // a reviewer that fails costs its ballot, not the council
    }
    add_usage(d.usage, done->response.usage);
    auto ballot =
        parse_ballot(done->response.choices[0].message.content.value_or(""), labels);
    if (!ballot.empty()) {
      ballots.push_back(std::move(ballot));
    }
  }
  return rankings_text(aggregate(ballots, labels), ballots.size());
}

} // namespace

std::string response_label(std::size_t position) {
  std::string letters;
  for (std::size_t n = position + 1; n > 0; n = (n - 1) / 26) {
    letters.insert(letters.begin(), static_cast<char>('A' + (n - 1) % 26));
  }
  return "Response " + letters;
}

std::string responses_text(const std::vector<MemberOutcome>& members,
                           const std::vector<std::size_t>& order) {
  std::string out;
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    if (!out.empty()) {
      out += "\n\n";
    }
    out += response_label(pos) + ":\n" + members[order[pos]].answer.value_or("");
  }
  return out;
}

std::string Deliberation::served_list() const {
  std::string out;
  for (const MemberOutcome& m : members) {
    if (!out.empty()) {
      out += ',';
    }
    out += m.answer ? m.served_by : "-";
  }
  return out;
}

core::Result<std::string> question_of(const core::ChatRequest& request) {
  for (const auto& message : request.messages | std::views::reverse) {
    if (message.role == "user") {
      return message.text();
    }
  }
  return core::fail(core::Error::bad_request("messages: a council needs a user message"));
}

core::Result<Deliberation> deliberate(const config::Council& council,
                                      const core::ChatRequest& request, core::Completer& completer,
                                      std::mt19937_64& rng) {
  auto question = question_of(request);
  if (!question) {
    return core::fail(question.error());
  }
  const Json systems = system_messages(request);
  Deliberation d;
  d.members = ask_members(council, systems, *question, request, completer);
  std::string failures;
  for (std::size_t i = 0; i < d.members.size(); ++i) {
    const MemberOutcome& m = d.members[i];
    add_usage(d.usage, m.usage);
    if (m.answer) {
      d.order.push_back(i);
    } else {
      failures += (failures.empty() ? "" : "; ") + m.label + " (" + m.error->message + ")";
    }
  }
  if (d.order.empty()) {
    return core::fail(core::Error::upstream(
        502, "council " + council.name + ": every member failed: " + failures));
  }
  if (council.shuffle) {
    std::shuffle(d.order.begin(), d.order.end(), rng);
  }
  const std::string responses = responses_text(d.members, d.order);
  if (council.peer_review && d.order.size() > 1) {
    std::vector<std::string> labels;
    for (std::size_t pos = 0; pos < d.order.size(); ++pos) {
      labels.push_back(response_label(pos));
    }
    d.rankings =
        peer_review(council, systems, *question, responses, labels, d, request, completer);
  }
  const std::string prompt = config::render_prompt(
      template_of(council, config::PromptKind::chairman),
      {{"question", *question}, {"responses", responses}, {"rankings", d.rankings}});
  d.chairman_request =
      request_for(council.chairman, systems, prompt, council.chairman_temperature, request);
  d.chairman_request["stream"] = request.stream;
  if (request.stream && request.stream_options) {
    d.chairman_request["stream_options"] = {{"include_usage", request.stream_options->include_usage}};
  }
  return d;
}

} // namespace ask::council
