#pragma once
// What a benchmark prints around its numbers: the command line, the machine (nproc, CPU
// model, kernel), the load average (other work on a shared machine shows here), the date.

#include <sys/types.h>

#include <string>

namespace ask::bench {

// Bytes per MiB, for figures printed in MiB.
inline constexpr double k_mib = 1024.0 * 1024.0;

// "nproc 2, Intel(R) Xeon(R) ..., Linux 6.1.0 x86_64".
std::string machine_summary();
// The 1-, 5- and 15-minute load averages, "4.50 5.90 5.12".
std::string load_average();
// The local date and time, "2026-05-05 04:38 UTC".
std::string now_text();
// CPU time (user + system, seconds) used so far by the processes of group `pgid`, all their
// threads included; from /proc, with the kernel's clock-tick resolution (usually 10 ms). NaN
// where there is no /proc (core/platform.h): the CPU columns then print "nan".
double group_cpu_seconds(pid_t pgid);

// argv joined with spaces (arguments with spaces or quotes are quoted).
std::string command_line(int argc, char** argv);

} // namespace ask::bench
