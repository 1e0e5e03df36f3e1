#!/usr/bin/env python3
"""Records the memory truth grid: real llama-server startup logs over a grid of settings.

Runs a llama-server (and, for the multi-device runs, local rpc-server processes) built out of
tree from llama.cpp, on the sparse GGUF files of the model zoo (build/bench/model_zoo --out
DIR), once per grid entry; keeps the command line and the lines the estimator is held to
(buffer sizes, context sizes, cache sizes) in tests/fixtures/llama-server/grid/<run>.log, and
kills the server as soon as its compute buffers are reserved. Nothing of llama.cpp enters the
project: only these logs. tests/fixtures/llama-server/grid/README.md says how they were made.

  scripts/record_memory_grid.py --llama-bin /work/llama/build/bin --zoo /work/zoo \\
      --out tests/fixtures/llama-server/grid [--only REGEX] [--list] [--jobs 1]

Each run: `llama-server -m ZOO/ID.gguf --host 127.0.0.1 --port P -t 2 -lv 4 --no-warmup
--no-repack <settings>` under LD_PRELOAD of the shim scripts/zoo-load.sh builds (it drops
MAP_POPULATE, so the sparse file's holes are not paged in; --no-warmup keeps llama.cpp from
computing, --no-repack from copying weights into RAM). Held-out runs go to held-out/.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

# Lines the estimator's tests read (router/grid_log.h parses the same set).
KEEP = re.compile(
    r"(model buffer size|KV buffer size|RS buffer size|output buffer size|compute buffer size"
    r"|llama_context: (n_seq_max|n_ctx|n_ctx_seq|n_batch|n_ubatch|flash_attn|kv_unified|"
    r"n_outputs_max|causal_attn) +="
    r"|llama_kv_cache: size =|llama_kv_cache_iswa: creating|llama_memory_recurrent: size ="
    r"|attn_rot_[kv] =|offloaded \d+/\d+ layers|graph nodes|graph splits|pipeline parallelism"
    r"|sched copies|n_parallel is set|load_tensors: +(CPU|RPC)|print_info: (arch|n_layer|n_embd|"
    r"n_head|n_head_kv|n_swa|n_ff|n_expert|n_vocab|file type|file size|model type) +="
    r"|error|failed|exception|^\d+\.\d+\.\d+\.\d+ E )",
    re.IGNORECASE)
DONE = re.compile(r"sched_reserve: reserve took|main: model loaded|server is listening")
FAIL = re.compile(r"error loading model|failed to load model|exiting due to|terminate called|"
                  r"Segmentation fault|Aborted")


@dataclass
class Run:
    model: str                  # zoo file stem
    args: list                  # llama-server settings
    rpc: list = field(default_factory=list)  # rpc-server memory (MiB) per device
    held_out: bool = False

    def run_id(self):
        short = {"-c": "c", "-np": "np", "-ub": "ub", "-b": "b", "-ngl": "ngl", "-ts": "ts",
                 "--n-cpu-moe": "cmoe"}
        parts = [self.model]
        a = self.args
        i = 0
        while i < len(a):
            if a[i] in short:
                parts.append(short[a[i]] + a[i + 1].replace(",", "-"))
                i += 2
            elif a[i] == "-fa":
                parts.append("fa" + ("1" if a[i + 1] == "on" else "0"))
                i += 2
            elif a[i] == "-ctk":
                parts.append("k" + a[i + 1])
                i += 2
            elif a[i] == "-ctv":
                parts.append("v" + a[i + 1])
                i += 2
            elif a[i] == "-ot":
                parts.append("ot" + re.sub(r"[^A-Za-z0-9]", "", a[i + 1]))
                i += 2
            else:
                parts.append(a[i].lstrip("-").replace("-", ""))
                i += 1
        if self.rpc:
            parts.append(f"rpc{len(self.rpc)}")
        return "_".join(parts)


def settings(ctx=4096, np_=1, ub=512, fa="on", k="f16", v="f16", kvu=None, extra=()):
    a = ["-c", str(ctx), "-np", str(np_), "-ub", str(ub), "-fa", fa, "-ctk", k, "-ctv", v]
    if kvu is True:
        a.append("-kvu")
    elif kvu is False:
        a.append("-no-kvu")
    return a + list(extra)


# Models the estimator is tuned on, and models (and settings) held out: recorded with the
# rest, but not compared with the estimate until the model is done (tests/fixtures/
# llama-server/grid/README.md reports how the held-out runs fared at first sight).
DENSE = ["llama-3.1-8b", "qwen3-8b", "mistral-7b-v0.3", "glm-4-9b", "phi-3-mini-4k", "gemma-7b"]
SWA = ["gemma-2-9b", "gemma-3-12b", "gpt-oss-20b"]
MOE = ["qwen3-30b-a3b", "deepseek-v2-lite"]
HYBRID = ["qwen3-next-80b-a3b", "qwen3.5-35b-a3b"]
HELD_OUT_MODELS = ["mistral-small-24b", "gemma-3-27b", "qwen2.5-7b", "ministral-3-3b"]
# KV caches of more than this are not recorded: llama.cpp writes the whole cache at start.
SMALL_KV_32K = ["llama-3.1-8b", "qwen3-8b", "mistral-7b-v0.3", "glm-4-9b", "gemma-2-9b",
                "gemma-3-12b", "gpt-oss-20b", "qwen3-30b-a3b", "deepseek-v2-lite"]


def grid():
    runs = []
    # Every model at the defaults askd uses, FA on and off, two ubatch sizes.
    for m in DENSE + SWA + MOE + HYBRID + ["llama-3.1-70b"]:
        for fa in ("on", "off"):
            for ub in (512, 2048):
                runs.append(Run(m, settings(fa=fa, ub=ub)))
    # Slots, context and a unified cache.
    for m in SMALL_KV_32K + HYBRID:
        runs.append(Run(m, settings(ctx=32768, np_=4)))
        runs.append(Run(m, settings(ctx=32768, np_=4, fa="off")))
        runs.append(Run(m, settings(ctx=32768, np_=8, ub=2048)))
        runs.append(Run(m, settings(ctx=32768, np_=4, kvu=True)))
    for m in ["gemma-7b", "phi-3-mini-4k"]:  # full-width caches: 8 slots at 8k
        runs.append(Run(m, settings(ctx=8192, np_=8)))
        runs.append(Run(m, settings(ctx=8192, np_=4, kvu=True, fa="off")))
    # Quantised caches (a quantised V needs FA).
    for m in ["llama-3.1-8b", "qwen3-8b", "gemma-3-12b", "gpt-oss-20b", "deepseek-v2-lite",
              "phi-3-mini-4k", "qwen3-30b-a3b"]:
        runs.append(Run(m, settings(ctx=32768, k="q8_0", v="q8_0")))
        runs.append(Run(m, settings(ctx=32768, k="q4_0", v="q4_0", ub=2048)))
        runs.append(Run(m, settings(ctx=32768, k="q8_0", v="f16", fa="off")))
    # Long context.
    for m in ["gemma-3-12b", "gpt-oss-20b", "qwen3-30b-a3b", "deepseek-v2-lite", "llama-3.1-8b",
              "qwen3.5-35b-a3b"]:
        runs.append(Run(m, settings(ctx=131072, k="q4_0", v="q4_0")))
    for m in ["gemma-3-12b", "gpt-oss-20b"]:
        runs.append(Run(m, settings(ctx=131072, k="q8_0", v="q8_0", np_=4)))
    # Sliding window: full-size cache.
    for m in SWA:
        runs.append(Run(m, settings(ctx=32768, extra=["--swa-full"])))
        runs.append(Run(m, settings(ctx=32768, np_=4, extra=["--swa-full"], fa="off")))
    # Big ones.
    runs.append(Run("llama-3.1-70b", settings(ctx=32768, np_=4)))
    runs.append(Run("llama-3.1-70b", settings(ctx=8192, np_=2, fa="off", ub=2048)))
    runs.append(Run("deepseek-v3", settings()))
    runs.append(Run("deepseek-v3", settings(fa="off")))
    runs.append(Run("deepseek-v3", settings(ctx=32768, np_=4)))
    # Weight types.
    for m, v in [("gpt-oss-20b", "bf16"), ("gemma-3-27b", "q8_0"), ("deepseek-v2-lite", "iq4_nl"),
                 ("qwen3-30b-a3b", "mxfp4_moe"), ("phi-3-mini-4k", "f16")]:
        runs.append(Run(m + "-" + v, settings()))
    # Multi-device: local rpc-servers stand for GPUs.
    for m in ["llama-3.1-8b", "qwen3-8b", "gemma-2-9b", "phi-3-mini-4k", "glm-4-9b"]:
        runs.append(Run(m, settings(extra=["-ngl", "999"]), rpc=[12000, 12000]))
        runs.append(Run(m, settings(fa="off", extra=["-ngl", "999", "-ts", "3,1"]),
                        rpc=[12000, 12000]))
        runs.append(Run(m, settings(extra=["-ngl", "16"]), rpc=[12000, 12000]))
        runs.append(Run(m, settings(np_=4, ctx=16384, extra=["-ngl", "999"]),
                        rpc=[8000, 8000, 8000]))
    for m in ["qwen3-30b-a3b", "gpt-oss-20b"]:
        runs.append(Run(m, settings(extra=["-ngl", "999", "-ot", "exps=CPU"]), rpc=[8000, 8000]))
        runs.append(Run(m, settings(extra=["-ngl", "999", "--n-cpu-moe", "12"]),
                        rpc=[12000, 12000]))
    return runs


def held_out():
    runs = []
    for m in HELD_OUT_MODELS:
        for fa in ("on", "off"):
            for ub in (512, 2048):
                runs.append(Run(m, settings(fa=fa, ub=ub), held_out=True))
        runs.append(Run(m, settings(ctx=24000, np_=3, ub=1024), held_out=True))
        runs.append(Run(m, settings(ctx=16384, np_=2, k="q8_0", v="q8_0", kvu=True),
                        held_out=True))
    for m in ["llama-3.1-8b", "gemma-3-12b", "gpt-oss-20b", "qwen3-30b-a3b",
              "deepseek-v2-lite", "glm-4-9b"]:
        runs.append(Run(m, settings(ctx=20000, np_=6, ub=768, extra=["-b", "1024"]),
                        held_out=True))
        runs.append(Run(m, settings(ctx=65536, np_=2, fa="off", k="q8_0", v="f16", ub=256),
                        held_out=True))
    for m in ["llama-3.1-8b", "gemma-2-9b", "qwen3-8b"]:
        runs.append(Run(m, settings(extra=["-ngl", "999", "-ts", "2,1,1"]),
                        rpc=[8000, 8000, 8000], held_out=True))
        runs.append(Run(m, settings(np_=2, ctx=8192, fa="off", extra=["-ngl", "20"]),
                        rpc=[8000, 8000], held_out=True))
    runs.append(Run("gpt-oss-20b", settings(np_=2, extra=["-ngl", "999", "-ot", "exps=CPU"]),
                    rpc=[8000, 8000, 8000], held_out=True))
    return runs


def with_even_split(runs):
    """RPC runs without --tensor-split get an even one (see record())."""
    for r in runs:
        if r.rpc and "-ts" not in r.args:
            r.args = r.args + ["-ts", ",".join("1" for _ in r.rpc)]
    return runs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def fit_params(run, bin_dir, model, endpoints, shim):
    """llama-fit-params' own projection for the same file and settings, device by device
    ("DEVICE model context compute", MiB), for the side-by-side table in docs/benchmarks.md."""
    argv = [os.path.join(bin_dir, "llama-fit-params"), "-m", model, "-t", "2", "--no-repack",
            "--fit-print", "on"] + run.args
    if endpoints:
        argv += ["--rpc", ",".join(endpoints)]
    env = dict(os.environ)
    if shim:
        env["LD_PRELOAD"] = shim
    try:
        out = subprocess.run(argv, capture_output=True, text=True, errors="replace", env=env,
                             timeout=300)
    except subprocess.TimeoutExpired:
        return "timed out"
    rows = [l.strip() for l in out.stdout.splitlines() if re.match(r"^\S+( \d+){3}\s*$", l)]
    return "; ".join(rows) if rows else f"no projection (exit status {out.returncode})"


def record(run, bin_dir, zoo, out_dir, timeout, shim, fit_only=False):
    model = os.path.join(zoo, run.model + ".gguf")
    if not os.path.exists(model):
        return f"skip {run.run_id()}: {model} is missing"
    rpcs = []
    endpoints = []
    try:
        for mem in run.rpc:
            port = free_port()
            # This build's rpc-server reports its CPU device's memory (the host's), so every
            # device reports the same: runs give --tensor-split (grid() adds an even one).
            p = subprocess.Popen([os.path.join(bin_dir, "ggml-rpc-server"), "-H", "127.0.0.1",
                                  "-p", str(port), "-t", "1"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rpcs.append(p)
            if not wait_port(port, p):
                return f"fail {run.run_id()}: rpc-server on {port} did not start"
            endpoints.append(f"127.0.0.1:{port}")
        where = os.path.join(out_dir, "held-out") if run.held_out else out_dir
        fixture = os.path.join(where, run.run_id() + ".log")
        if fit_only:
            with open(fixture) as f:
                lines = f.read().splitlines()
            if any(l.startswith("# fit-params:") for l in lines):
                return f"have {run.run_id()}"
            lines.insert(3, "# fit-params: " + fit_params(run, bin_dir, model, endpoints, shim))
            with open(fixture, "w") as f:
                f.write("\n".join(lines) + "\n")
            return f"fit  {run.run_id()}"
        port = free_port()
        argv = [os.path.join(bin_dir, "llama-server"), "-m", model, "--host", "127.0.0.1",
                "--port", str(port), "-t", "2", "-lv", "4", "--no-warmup", "--no-repack"] + \
            run.args
        if endpoints:
            argv += ["--rpc", ",".join(endpoints)]
        t0 = time.time()
        env = dict(os.environ)
        if shim:
            env["LD_PRELOAD"] = shim
        srv = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", env=env)
        kept = []
        done = failed = False
        reserves = 0
        for line in srv.stdout:
            if KEEP.search(line):
                # Without the "0.09.503.966 I " time stamp: the lines, not the timing.
                kept.append(re.sub(r"^\d+\.\d+\.\d+\.\d+ [A-Z] ", "", line.rstrip("\n")))
            if FAIL.search(line):
                failed = True
            if "reserve took" in line:
                reserves += 1
            if DONE.search(line) and reserves >= 1:
                done = True
                break
            if time.time() - t0 > timeout:
                break
        srv.send_signal(signal.SIGKILL)
        srv.wait()
        shown = ["llama-server", "-m", run.model + ".gguf"] + run.args
        if endpoints:
            shown += ["--rpc", ",".join(f"rpc{i}" for i in range(len(endpoints)))]
        header = [f"# cmd: {' '.join(shown)}",
                  f"# rpc devices: {len(run.rpc)}",
                  f"# rpc endpoints: {','.join(endpoints) or 'none'}",
                  f"# status: {'ok' if done and not failed else 'failed'}"
                  f" after {time.time() - t0:.1f} s",
                  "# fit-params: " + fit_params(run, bin_dir, model, endpoints, shim)]
        os.makedirs(where, exist_ok=True)
        with open(fixture, "w") as f:
            f.write("\n".join(header + kept) + "\n")
        return f"{'ok  ' if done and not failed else 'FAIL'} {run.run_id()} ({time.time() - t0:.1f} s)"
    finally:
        for p in rpcs:
            p.send_signal(signal.SIGKILL)
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llama-bin", default="/work/llama/build/bin")
    ap.add_argument("--zoo", default="/work/zoo")
    ap.add_argument("--out", default="tests/fixtures/llama-server/grid")
    ap.add_argument("--only", default="")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--keep", action="store_true", help="skip runs already recorded")
    ap.add_argument("--fit-only", action="store_true",
                    help="add llama-fit-params' projection to runs recorded without it")
    ap.add_argument("--shim", default="/work/zoo/tools/nopopulate.so",
                    help="LD_PRELOAD library that drops MAP_POPULATE (scripts/zoo-load.sh "
                         "builds it); '' for none")
    a = ap.parse_args()
    runs = [r for r in with_even_split(grid() + held_out()) if re.search(a.only, r.run_id())]
    if a.list:
        for r in runs:
            print(r.run_id())
        print(f"{len(runs)} runs", file=sys.stderr)
        return
    os.makedirs(a.out, exist_ok=True)
    for i, r in enumerate(runs):
        where = os.path.join(a.out, "held-out") if r.held_out else a.out
        exists = os.path.exists(os.path.join(where, r.run_id() + ".log"))
        if (a.keep and exists and not a.fit_only) or (a.fit_only and not exists):
            continue
        result = record(r, a.llama_bin, a.zoo, a.out, a.timeout, a.shim, a.fit_only)
        print(f"[{i + 1}/{len(runs)}] {result}", flush=True)


if __name__ == "__main__":
    main()
