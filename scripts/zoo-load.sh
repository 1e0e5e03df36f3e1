#!/usr/bin/env bash
# Proves the model zoo loads in a real llama-server (a CPU build will do): writes the zoo's
# sparse files with build/bench/model_zoo, starts llama-server on each at -c 4096 -np 1,
# waits until it listens (or exits), stops it, keeps its log in ZOO_DIR/logs/ID.log and
# prints the buffers it allocated.
#
#   scripts/zoo-load.sh LLAMA_SERVER ZOO_DIR [ID...]      (all entries without ID)
#   VARIANT=q8_0 scripts/zoo-load.sh ...                  (a quant mix other than the default)
#
# On a machine with one NUMA node llama.cpp maps a model with MAP_POPULATE and
# madvise(WILLNEED), which would page in every hole of a sparse file (400 GB for DeepSeek
# V3). A small LD_PRELOAD shim, built here into ZOO_DIR/tools, drops both; the buffer sizes
# do not change. --no-repack keeps the CPU backend from copying weights into RAM.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  sed -n '2,13p' "$0" >&2
  exit 2
fi
server=$1
zoo=$2
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
model_zoo=${MODEL_ZOO:-$here/build/bench/model_zoo}
mkdir -p "$zoo/logs" "$zoo/tools"

shim=$zoo/tools/nopopulate.so
if [[ ! -f $shim ]]; then
  cc -O2 -shared -fPIC -o "$shim" -x c - -ldl <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/types.h>
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  static void *(*real)(void *, size_t, int, int, int, off_t);
  if (!real) real = dlsym(RTLD_NEXT, "mmap");
  return real(addr, len, prot, flags & ~MAP_POPULATE, fd, off);
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap(addr, len, prot, flags, fd, off);
}
int posix_madvise(void *addr, size_t len, int advice) {
  static int (*real)(void *, size_t, int);
  if (!real) real = dlsym(RTLD_NEXT, "posix_madvise");
  return advice == POSIX_MADV_WILLNEED ? 0 : real(addr, len, advice);
}
EOF
fi

if [[ $# -eq 0 ]]; then
  mapfile -t ids < <("$model_zoo" --list | awk 'NR > 1 && $1 != "variants:" { print $1 }')
else
  ids=("$@")
fi
# model_zoo prints "PATH (N GiB)" per file it writes.
mapfile -t files < <("$model_zoo" --out "$zoo" ${VARIANT:+--variant "$VARIANT"} "${ids[@]}" |
  awk '{ print $1 }')

failed=0
for file in "${files[@]}"; do
  id=$(basename "$file" .gguf)
  log=$zoo/logs/$id.log
  LD_PRELOAD=$shim "$server" -m "$file" -c 4096 -np 1 --no-warmup --numa distribute \
    -t 2 -lv 4 --no-repack --host 127.0.0.1 --port 0 > "$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 1200); do # 10 minutes
    if grep -q "listening on http" "$log" || ! kill -0 "$pid" 2> /dev/null; then
      break
    fi
    sleep 0.5
  done
  kill "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  if grep -q "listening on http" "$log"; then
    echo "$id: loaded"
  else
    echo "$id: FAILED (see $log)"
    failed=1
  fi
  grep -E "model buffer size|KV buffer size|RS buffer size|compute buffer size" "$log" |
    sed -E 's/^[0-9.]+ I /  /'
done
exit $failed
