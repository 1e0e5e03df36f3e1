#include "config/defaults.h"

namespace ask::config {

// Kept in step with examples/config.jsonc, but everything on one Ollama: a machine without
// a config file is assumed to run Ollama and nothing else. config_test loads it.
const std::string_view k_builtin_config = R"jsonc(
{
  "listen": "127.0.0.1:11436",
  "backends": {
    "ollama": {
      "kind": "ollama",
      "url": "http://127.0.0.1:11434",
      "timeouts": { "connect": "2s", "first_byte": "3m", "idle": "60s" }
    }
  },
  "models": {
    "fast-9b": {
      "backend": "ollama", "upstream": "qwen3.5:9b", "family": "qwen",
      "description": "Qwen3.5 9B, thinking off",
      "keep_alive": "15m", "params": { "think": false },
      "capabilities": ["completion", "vision", "tools"],
      "fallbacks": ["fast-3b"]
    },
    "fast-3b": {
      "backend": "ollama", "upstream": "llama3.2:3b", "family": "llama",
      "description": "Llama 3.2 3B",
      "keep_alive": "5m", "capabilities": ["completion", "tools"],
      "fallbacks": ["fast-1b"]
    },
    "fast-1b": {
      "backend": "ollama", "upstream": "gemma3:1b", "family": "gemma",
      "description": "Gemma 3 1B: the last resort",
      "keep_alive": "5m", "capabilities": ["completion"]
    },
    "think-9b": {
      "backend": "ollama", "upstream": "qwen3.5:9b", "family": "qwen",
      "description": "Qwen3.5 9B with thinking",
      "keep_alive": "15m", "params": { "think": true },
      "capabilities": ["completion", "vision", "tools", "thinking"],
      "timeouts": { "first_byte": "5m" },
      "fallbacks": ["heavy"]
    },
    "coder-30b": {
      "backend": "ollama", "upstream": "qwen3-coder:30b", "family": "qwen",
      "description": "Qwen3-Coder 30B-A3B",
      "keep_alive": "30s", "capabilities": ["completion", "tools"],
      "fallbacks": ["fast-9b"]
    },
    "heavy": {
      "backend": "ollama", "upstream": "gpt-oss:20b", "family": "gpt-oss",
      "description": "gpt-oss 20B: the hard questions",
      "keep_alive": "5m", "params": { "think": "high" },
      "capabilities": ["completion", "tools", "thinking"],
      "timeouts": { "first_byte": "5m" },
      "fallbacks": ["fast-9b"]
    },
    "vision-4b": {
      "backend": "ollama", "upstream": "gemma3:4b", "family": "gemma",
      "description": "Gemma 3 4B: images",
      "keep_alive": "5m", "capabilities": ["completion", "vision"],
      "fallbacks": ["fast-9b"]
    }
  },
  "councils": {
    "council": {
      "description": "two fast-9b answers, synthesised by think-9b",
      "members": [
        { "model": "fast-9b", "temperature": 0.7 },
        { "model": "fast-9b", "temperature": 0.7 }
      ],
      "chairman": "think-9b"
    }
  },
  "tiers": { "9b": "fast-9b", "think": "think-9b", "heavy": "heavy", "council": "council" },
  "default_tier": "9b",
  "aliases": { "coder": "coder-30b", "fast": "fast-9b", "vision": "vision-4b" }
}
)jsonc";

} // namespace ask::config
