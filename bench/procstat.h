/*
 * procstat: what the bench tools read about a process from /proc (mt-loadgen, mt-gamegen):
 * /proc/PID/status fields, CPU time from /proc/PID/stat, per-thread CPU from /proc/PID/task,
 * and the names of the errno values a connect can fail with. Only libc.
 */
#ifndef MT_BENCH_PROCSTAT_H
#define MT_BENCH_PROCSTAT_H

/* Returns the number after key (e.g. "VmRSS:", "VmHWM:") in /proc/PID/status, of this process
 * when pid <= 0, in KiB; -1 when it cannot be read. */
long ps_status_kib(long pid, const char *key);

/* Returns the user + system CPU seconds in a /proc/.../stat file, or -1. */
double ps_stat_cpu_s(const char *path);

/* Returns the user + system CPU seconds of process pid (from /proc/PID/stat, 10 ms ticks), or of
 * this process (getrusage) when pid <= 0; -1 when it cannot be read. */
double ps_cpu_s(long pid);

/* The CPU seconds of one thread of a process. */
struct ps_task {
    long tid;
    double cpu;
};

/* Reads the CPU seconds of every thread of pid into out (at most max); returns how many. */
int ps_tasks(long pid, struct ps_task *out, int max);

/* Returns the symbolic name of the errno values a socket/bind/connect commonly fails with
 * ("ECONNREFUSED", ...), or NULL for any other. */
const char *ps_errname(long e);

#endif
