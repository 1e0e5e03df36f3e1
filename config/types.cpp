#include "config/types.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>

namespace ask::config {

namespace {

template <class T, class Key>
const T* find_by(const std::vector<T>& items, std::string_view name, Key key) {
  const auto it = std::ranges::find_if(items, [&](const T& item) { return item.*key == name; });
  return it == items.end() ? nullptr : &*it;
}

} // namespace

std::string_view to_string(BackendKind kind) {
  switch (kind) {
  case BackendKind::ollama:
    return "ollama";
  case BackendKind::openai:
    return "openai";
  case BackendKind::llama_server:
    return "llama-server";
  case BackendKind::askd:
    return "askd";
  }
  return "ollama";
}

std::string_view to_string(GpuApi api) {
  switch (api) {
  case GpuApi::cuda:
    return "cuda";
  case GpuApi::rocm:
    return "rocm";
  case GpuApi::vulkan:
    return "vulkan";
  case GpuApi::sycl:
    return "sycl";
  case GpuApi::metal:
    return "metal";
  case GpuApi::cpu:
    return "cpu";
  }
  return "cpu";
}

std::string_view to_string(GpuVendor vendor) {
  switch (vendor) {
  case GpuVendor::nvidia:
    return "nvidia";
  case GpuVendor::amd:
    return "amd";
  case GpuVendor::intel:
    return "intel";
  case GpuVendor::apple:
    return "apple";
  case GpuVendor::other:
    return "other";
  }
  return "other";
}

std::string_view to_string(FlashAttn mode) {
  switch (mode) {
  case FlashAttn::on:
    return "on";
  case FlashAttn::off:
    return "off";
  case FlashAttn::automatic:
    return "auto";
  }
  return "auto";
}

std::string ListenConfig::to_string() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return ipv6 ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

bool ListenConfig::is_loopback() const {
  if (host == "localhost") {
    return true;
  }
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) {
      return true;
    }
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127; // ::ffff:127.x.y.z
  }
  return false; // any other host name may resolve anywhere
}

bool Model::has_capability(std::string_view capability) const {
  return std::ranges::find(capabilities, capability) != capabilities.end();
}

const Backend* Config::find_backend(std::string_view name) const {
  return find_by(backends, name, &Backend::name);
}
const Model* Config::find_model(std::string_view name) const {
  return find_by(models, name, &Model::name);
}
const Council* Config::find_council(std::string_view name) const {
  return find_by(councils, name, &Council::name);
}
const Alias* Config::find_alias(std::string_view name) const {
  return find_by(aliases, name, &Alias::name);
}
const Tier* Config::find_tier(std::string_view flag) const {
  return find_by(tiers, flag, &Tier::flag);
}
const Preset* Config::find_preset(std::string_view name) const {
  return find_by(presets, name, &Preset::name);
}
const GpuSpec* Config::find_gpu(std::string_view id) const {
  return find_by(gpus.devices, id, &GpuSpec::id);
}
std::string rpc_endpoint_error(std::string_view e) {
  const std::size_t colon = e.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return "expected host:port, e.g. \"192.168.1.20:50052\"";
  }
  const std::string_view host = e.substr(0, colon);
  const std::string_view port = e.substr(colon + 1);
  int number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || number < 1 ||
      number > 65535) {
    return "the port must be a number from 1 to 65535";
  }
  const auto v6_char = [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
  };
  const bool v6 = host.size() > 2 && host.front() == '[' && host.back() == ']' &&
                  std::all_of(host.begin() + 1, host.end() - 1, v6_char);
  const bool name = std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
  });
  if (!v6 && !name) {
    return "the host must be a name, an IPv4 address or an IPv6 address in brackets";
  }
  return "";
}

const RpcSpec* Config::find_rpc(std::string_view id) const {
  return find_by(gpus.rpc, id, &RpcSpec::id);
}
const Group* Config::find_group(std::string_view name) const {
  return find_by(groups, name, &Group::name);
}

} // namespace ask::config
