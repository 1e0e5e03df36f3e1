#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what is missing, builds with
# warnings as errors, runs every unit and integration test through CTest.
#   scripts/test.sh              normal build in build/
#   scripts/test.sh --sanitize   also an ASan+UBSan build in build-asan/, with the POSIX
#                                fallback of the platform seam (-DASK_PORTABLE=ON)
#   scripts/test.sh --tsan       also the tests labelled `threads` under ThreadSanitizer,
#                                in build-tsan/
#   scripts/test.sh --tidy       also clang-tidy over every source (scripts/tidy.sh)
#   scripts/test.sh --ci         all of them: what .ci/run does
# Each stage prints its time on stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

sanitize=0 tsan=0 tidy=0
for arg in "$@"; do
  case $arg in
    --sanitize) sanitize=1 ;;
    --tsan) tsan=1 ;;
    --tidy) tidy=1 ;;
    --ci) sanitize=1 tsan=1 tidy=1 ;;
    *) echo "usage: scripts/test.sh [--sanitize] [--tsan] [--tidy] [--ci]" >&2; exit 2 ;;
  esac
done

stage_start=$SECONDS
stage() { # stage NAME: the time the previous stage took, then NAME's start
  if [[ -n ${stage_name:-} ]]; then
    echo "test.sh: $stage_name took $((SECONDS - stage_start)) s" >&2
  fi
  stage_name=$1 stage_start=$SECONDS
  [[ -n $1 ]] && echo "test.sh: $1" >&2
  return 0
}

stage "installing dependencies"
if ((tidy)); then
  "$root/scripts/install-deps.sh" --tidy
else
  "$root/scripts/install-deps.sh"
fi

# Unity builds (16 sources per compiler run) halve the compile time: most of it goes to the
# same headers (nlohmann/json, httplib, spdlog) and the same template instances in every file.
configure() {
  local dir=$1; shift
  local generator=()
  [[ ! -f $dir/CMakeCache.txt ]] && command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S "$root" -B "$dir" "${generator[@]}" -DASK_WERROR=ON -DCMAKE_UNITY_BUILD=ON \
    -DCMAKE_UNITY_BUILD_BATCH_SIZE=16 "$@" >/dev/null
}
# The sanitizer builds keep only line tables (-g1: file and line in every report, much less
# to compile and link than full debug information) and batch 32 sources per compiler run:
# they are built once, from scratch, in CI.
#
# The load test (256 streams at once) runs by itself after the others: it needs the machine
# (under TSAN beside other tests it once could not get its streams under way in time), and
# it slows every sanitized askd that runs beside it.
# `left_out` (a regex, may be unset) leaves more out of the parallel run.
alone='^askd load: 256 concurrent streams'
run_ctest() {
  local dir=$1; shift
  (cd "$dir" &&
    ctest --output-on-failure --parallel "$(nproc)" --timeout 300 \
      -E "$alone${left_out:+|$left_out}" "$@" &&
    ctest --output-on-failure --timeout 300 -R "$alone" "$@")
}

stage "build/: build and test"
configure "$root/build"
cmake --build "$root/build" --parallel "$(nproc)"

# clang-tidy needs no build, only CPU (about 20 CPU-minutes). It runs in the background at the
# lowest priority from here on, so it takes the CPU the test runs leave idle (they mostly wait
# on sockets and child processes) and yields it to the builds and to the tests; the script
# waits for it at the end. Its findings are printed then.
tidy_pid=
tidy_log=$root/build-tidy/tidy.log
if ((tidy)); then
  mkdir -p "$root/build-tidy"
  echo "test.sh: clang-tidy started in the background ($tidy_log)" >&2
  setsid -w nice -n 19 "$root/scripts/tidy.sh" >"$tidy_log" 2>&1 &
  tidy_pid=$!
  trap '[[ -n $tidy_pid ]] && kill -- "-$tidy_pid" 2>/dev/null' EXIT
fi

run_ctest "$root/build"

if ((sanitize)); then
  # The benchmarks are built (and so compiled) by the first suite; not again here.
  # ASK_PORTABLE: the whole suite also runs on the POSIX fallback of the platform seam (the
  # first suite and the TSAN one run the Linux side).
  stage "build-asan/: ASan+UBSan, ASK_PORTABLE, build and test"
  configure "$root/build-asan" -DASK_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1" -DCMAKE_UNITY_BUILD_BATCH_SIZE=32 \
    -DASK_BUILD_BENCH=OFF -DASK_PORTABLE=ON
  cmake --build "$root/build-asan" --parallel "$(nproc)"
  # Left out here: the model zoo's sweep of every entry in every variant (170 s of one core
  # under ASan). `ModelZoo: every entry parses …` still builds every entry here, in its
  # default variant, through the same code; the first suite runs the sweep whole.
  left_out='^ModelZoo: every entry builds in every variant' run_ctest "$root/build-asan"
fi

if ((tsan)); then
  # Only the tests labelled `threads` (ask_test(... LABELS threads)) and the programs they
  # start: the code that runs on several threads (askd's server and limiter, llm-sim, the
  # supervisor, the council, the HTTP client and server). The pure-logic tests would only
  # cost compile time here.
  stage "build-tsan/: ThreadSanitizer, tests labelled threads"
  tsan_dir=$root/build-tsan
  configure "$tsan_dir" -DASK_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_UNITY_BUILD_BATCH_SIZE=32 \
    -DASK_BUILD_BENCH=OFF
  cmake --build "$tsan_dir" --parallel "$(nproc)" --target threads_tests
  # Reports go to files, so that those of the programs the tests start (askd, llm-sim, ask,
  # whose stderr the tests read or drop) are seen too: any file there fails the suite. A
  # test process with a report also fails by itself (exit status 66).
  reports=$tsan_dir/tsan-reports
  rm -rf "$reports" && mkdir -p "$reports"
  export TSAN_OPTIONS="log_path=$reports/tsan second_deadlock_stack=1 \
suppressions=$root/tests/tsan.supp ${TSAN_OPTIONS:-}"
  # g++ 12's TSAN runtime cannot map its shadow memory with more than 28 bits of mmap
  # randomisation (newer kernels default to 32): run the tests without ASLR there.
  no_aslr=()
  if [[ $(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28) -gt 28 ]]; then
    no_aslr=(setarch "$(uname -m)" -R)
  fi
  status=0
  tsan_ctest() {
    "${no_aslr[@]}" ctest --test-dir "$tsan_dir" --output-on-failure --timeout 300 -L threads "$@"
  }
  { tsan_ctest --parallel "$(nproc)" -E "$alone" && tsan_ctest -R "$alone"; } || status=$?
  if compgen -G "$reports/tsan*" >/dev/null; then
    echo "test.sh: ThreadSanitizer reports ($reports):" >&2
    cat "$reports"/tsan* >&2
    status=1
  fi
  ((status == 0)) || exit "$status"
fi

if ((tidy)); then
  stage "clang-tidy (what is left of it)"
  tidy_status=0
  wait "$tidy_pid" || tidy_status=$?
  tidy_pid=
  cat "$tidy_log"
  if ((tidy_status != 0)); then
    echo "test.sh: clang-tidy found problems (above; scripts/tidy.sh to rerun)" >&2
    exit 1
  fi
fi
stage ""
