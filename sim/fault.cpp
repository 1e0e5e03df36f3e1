#include "sim/fault.h"

#include <charconv>
#include <cmath>
#include <vector>

#include "core/duration.h"

namespace ask::sim {

namespace {

constexpr std::string_view k_open = "[[sim:";
constexpr std::string_view k_close = "]]";

struct Item {
  std::string key;
  std::optional<std::string> value;
};

bool is_separator(char c) {
  return c == ',' || c == ' ' || c == '\t' || c == '\n';
}

core::Error bad(std::string message) {
  return core::Error::bad_request(std::move(message));
}

// Splits "a=1, b='x y' c" into items; quotes group a value with separators in it.
core::Result<std::vector<Item>> split_items(std::string_view text) {
  std::vector<Item> items;
  std::size_t i = 0;
  while (i < text.size()) {
    if (is_separator(text[i])) {
      ++i;
      continue;
    }
    std::size_t start = i;
    while (i < text.size() && !is_separator(text[i]) && text[i] != '=') {
      ++i;
    }
    Item item{std::string(text.substr(start, i - start)), std::nullopt};
    if (i < text.size() && text[i] == '=') {
      ++i;
      std::string value;
      if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
        char quote = text[i++];
        std::size_t end = text.find(quote, i);
        if (end == std::string_view::npos) {
          return core::fail(bad("fault '" + item.key + "': unterminated quote"));
        }
        value = text.substr(i, end - i);
        i = end + 1;
      } else {
        std::size_t vstart = i;
        while (i < text.size() && !is_separator(text[i])) {
          ++i;
        }
        value = text.substr(vstart, i - vstart);
      }
      item.value = std::move(value);
    }
    items.push_back(std::move(item));
  }
  return items;
}

core::Result<long long> parse_count(const Item& item, long long min, long long max) {
  const std::string& v = item.value.value_or("");
  long long n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < min || n > max) {
    return core::fail(bad("fault '" + item.key + "': expected a whole number from " +
                          std::to_string(min) + " to " + std::to_string(max) + ", got '" + v +
                          "'"));
  }
  return n;
}

core::Result<bool> parse_switch(const Item& item) {
  if (!item.value || *item.value == "1" || *item.value == "true" || *item.value == "on") {
    return true;
  }
  if (*item.value == "0" || *item.value == "false" || *item.value == "off") {
    return false;
  }
  return core::fail(
      bad("fault '" + item.key + "': expected no value or true/false, got '" + *item.value + "'"));
}

core::Result<std::string> require_value(const Item& item) {
  if (!item.value || item.value->empty()) {
    return core::fail(bad("fault '" + item.key + "' needs a value, e.g. " + item.key + "=..."));
  }
  return *item.value;
}

core::Result<std::chrono::milliseconds> parse_delay(const Item& item) {
  auto text = require_value(item);
  if (!text) {
    return core::fail(text.error());
  }
  auto d = core::parse_duration(std::string_view(*text));
  if (!d || d->is_forever()) {
    return core::fail(bad("fault '" + item.key +
                          "': expected a duration such as 300ms or 2s, got '" + *text + "'"));
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(d->value());
}

core::Result<double> parse_rate(const Item& item) {
  auto text = require_value(item);
  if (!text) {
    return core::fail(text.error());
  }
  double v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || !std::isfinite(v) || v < 0) {
    return core::fail(
        bad("fault 'tps': expected a number of tokens per second >= 0, got '" + *text + "'"));
  }
  return v;
}

using Apply = core::Result<void> (*)(const Item&, FaultSpec&);

constexpr long long k_max_count = 1'000'000'000;

template <std::optional<long long> FaultSpec::*Field>
core::Result<void> count_rule(const Item& item, FaultSpec& spec) {
  auto n = parse_count(item, 0, k_max_count);
  if (!n) {
    return core::fail(n.error());
  }
  spec.*Field = *n;
  return {};
}

template <bool FaultSpec::*Field>
core::Result<void> switch_rule(const Item& item, FaultSpec& spec) {
  auto on = parse_switch(item);
  if (!on) {
    return core::fail(on.error());
  }
  spec.*Field = *on;
  return {};
}

template <std::optional<int> FaultSpec::*Field, long long Min, long long Max>
core::Result<void> int_rule(const Item& item, FaultSpec& spec) {
  auto n = parse_count(item, Min, Max);
  if (!n) {
    return core::fail(n.error());
  }
  spec.*Field = static_cast<int>(*n);
  return {};
}

core::Result<void> ttft_rule(const Item& item, FaultSpec& spec) {
  auto d = parse_delay(item);
  if (!d) {
    return core::fail(d.error());
  }
  spec.ttft = *d;
  return {};
}

core::Result<void> tps_rule(const Item& item, FaultSpec& spec) {
  auto v = parse_rate(item);
  if (!v) {
    return core::fail(v.error());
  }
  spec.tps = *v;
  return {};
}

core::Result<void> repeat_rule(const Item& item, FaultSpec& spec) {
  auto v = require_value(item);
  if (!v) {
    return core::fail(v.error());
  }
  spec.repeat = *v;
  return {};
}

core::Result<void> tool_rule(const Item& item, FaultSpec& spec) {
  spec.tool = item.value.value_or("");
  return {};
}

struct Rule {
  std::string_view key;
  Apply apply;
};

// Every fault key, in the order --help documents them.
constexpr Rule k_rules[] = {
    {"ttft", ttft_rule},
    {"status", int_rule<&FaultSpec::status, 100, 599>},
    {"retry_after", int_rule<&FaultSpec::retry_after, 0, 86400>},
    {"close_before_headers", switch_rule<&FaultSpec::close_before_headers>},
    {"reset", switch_rule<&FaultSpec::reset>},
    {"drop_after", count_rule<&FaultSpec::drop_after>},
    {"hang", switch_rule<&FaultSpec::hang>},
    {"hang_after", count_rule<&FaultSpec::hang_after>},
    {"crash", switch_rule<&FaultSpec::crash>},
    {"crash_after", count_rule<&FaultSpec::crash_after>},
    {"repeat", repeat_rule},
    {"tokens", count_rule<&FaultSpec::tokens>},
    {"tps", tps_rule},
    {"think", switch_rule<&FaultSpec::think>},
    {"tool", tool_rule},
};

// Applies one item; `spec` is changed only on success.
core::Result<void> apply(const Item& item, FaultSpec& spec) {
  for (const Rule& rule : k_rules) {
    if (rule.key == item.key) {
      return rule.apply(item, spec);
    }
  }
  return core::fail(
      bad("unknown fault '" + item.key + "' (known: " + std::string(fault_keys()) + ")"));
}

template <class T> void take(std::optional<T>& field, const std::optional<T>& over) {
  if (over) {
    field = over;
  }
}

} // namespace

std::string_view fault_keys() {
  static const std::string k_keys = [] {
    std::string keys;
    for (const Rule& rule : k_rules) {
      keys += keys.empty() ? "" : ", ";
      keys += rule.key;
    }
    return keys;
  }();
  return k_keys;
}

core::Result<FaultSpec> parse_fault_spec(std::string_view text) {
  auto items = split_items(text);
  if (!items) {
    return core::fail(items.error());
  }
  FaultSpec spec;
  for (const Item& item : *items) {
    if (item.key.empty()) {
      return core::fail(bad("fault spec '" + std::string(text) + "': a value without a key"));
    }
    if (auto r = apply(item, spec); !r) {
      return core::fail(r.error());
    }
  }
  return spec;
}

void FaultSpec::merge(const FaultSpec& over) {
  take(ttft, over.ttft);
  take(status, over.status);
  take(retry_after, over.retry_after);
  close_before_headers = close_before_headers || over.close_before_headers;
  reset = reset || over.reset;
  take(drop_after, over.drop_after);
  hang = hang || over.hang;
  take(hang_after, over.hang_after);
  crash = crash || over.crash;
  take(crash_after, over.crash_after);
  take(repeat, over.repeat);
  take(tokens, over.tokens);
  take(tps, over.tps);
  think = think || over.think;
  take(tool, over.tool);
}

bool FaultSpec::empty() const {
  return to_string().empty();
}

std::string FaultSpec::to_string() const {
  std::vector<std::string> parts;
  auto num = [&](std::string_view key, const auto& field) {
    if (field) {
      parts.push_back(std::string(key) + "=" + std::to_string(*field));
    }
  };
  auto flag = [&](std::string_view key, bool on) {
    if (on) {
      parts.emplace_back(key);
    }
  };
  if (ttft) {
    parts.push_back("ttft=" + std::to_string(ttft->count()) + "ms");
  }
  num("status", status);
  num("retry_after", retry_after);
  flag("close_before_headers", close_before_headers);
  flag("reset", reset);
  num("drop_after", drop_after);
  flag("hang", hang);
  num("hang_after", hang_after);
  flag("crash", crash);
  num("crash_after", crash_after);
  if (repeat) {
    parts.push_back("repeat=\"" + *repeat + "\"");
  }
  num("tokens", tokens);
  if (tps) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", *tps);
    parts.push_back(std::string("tps=") + buf);
  }
  flag("think", think);
  if (tool) {
    parts.push_back(tool->empty() ? std::string("tool") : "tool=" + *tool);
  }
  std::string out;
  for (const std::string& p : parts) {
    out += out.empty() ? "" : ",";
    out += p;
  }
  return out;
}

DirectiveSplit extract_directives(std::string_view text) {
  DirectiveSplit out;
  std::string rest(text);
  for (;;) {
    std::size_t open = rest.find(k_open);
    if (open == std::string::npos) {
      break;
    }
    std::size_t close = rest.find(k_close, open + k_open.size());
    if (close == std::string::npos) {
      break;
    }
    std::string spec = rest.substr(open + k_open.size(), close - open - k_open.size());
    out.spec = out.spec ? *out.spec + "," + spec : spec;
    std::size_t end = close + k_close.size();
    if (end < rest.size() && rest[end] == ' ') {
      ++end;
    } else if (open > 0 && rest[open - 1] == ' ') {
      --open;
    }
    rest.erase(open, end - open);
  }
  out.text = std::move(rest);
  return out;
}

} // namespace ask::sim
