#pragma once
// Measured memory from llama-server's startup log: the model, KV, recurrent-state, compute
// and output buffers it allocated on each device. The live scheduler feeds these to the
// estimator after a model's first load so the next placement uses real figures.
//
// Lines recognised (all llama.cpp versions since 2024; prefixes and timestamps vary):
//   load_tensors:        CUDA0 model buffer size =  1234.56 MiB     (llm_load_tensors: before)
//   load_tensors:   CPU_Mapped model buffer size =     4.05 MiB
//   llama_kv_cache:        CUDA0 KV buffer size =   512.00 MiB      (llama_kv_cache_init: …)
//   llama_memory_recurrent:  CUDA0 RS buffer size = 12.00 MiB
//   llama_context:        CPU  output buffer size =     0.49 MiB
//   sched_reserve:        CUDA0 compute buffer size =  300.01 MiB  (llama_new_context_with_model: …)
//   load_tensors: offloaded 33/33 layers to GPU

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ask::router {

struct DeviceBuffers {
  // As llama.cpp names it: "CUDA0", "Vulkan1", "ROCm0", "CPU", "CPU_Mapped"; an rpc device by
  // its number on its server and the endpoint, "RPC0[10.0.0.2:50052]".
  std::string device;
  std::uint64_t model = 0;
  std::uint64_t kv = 0;
  std::uint64_t recurrent = 0;
  std::uint64_t compute = 0;
  std::uint64_t output = 0;
  std::uint64_t total() const { return model + kv + recurrent + compute + output; }
  bool is_host() const; // CPU, CPU_Mapped, CUDA_Host, … : host memory, not a GPU's
};

struct Calibration {
  std::vector<DeviceBuffers> devices; // in first-seen order
  int layers_offloaded = -1;          // from "offloaded N/M layers to GPU"; -1 = not seen
  int layers_total = -1;
  // Sum over devices that are not host memory.
  std::uint64_t gpu_total() const;
  // Sum over the host's buffers (CPU, CPU_Mapped, CUDA_Host, …).
  std::uint64_t host_total() const;
  const DeviceBuffers* find(std::string_view device) const;
};

// Folds one log line into `cal`; lines it does not recognise are ignored. Sizes are parsed
// strictly (a number and a unit of KiB, MiB or GiB); a malformed size is ignored.
void feed_line(Calibration& cal, std::string_view line);
// The whole log at once.
Calibration parse_startup_log(std::string_view log);

} // namespace ask::router
