/*
 * machine.c — what the machine lends this process: cores and memory, as a container or a
 * batch scheduler limits them. A GPU node's job often sees 64 cores online but may use 16
 * (Slurm's cpuset, a container's CPU quota): sizing the decode and encode threads by the
 * online count would run four threads per core.
 */
#include <limits.h>
#include <sched.h> /* sched_getaffinity, CPU_COUNT: _GNU_SOURCE, as the command is built */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The cgroup root: GRADCAM_CGROUP_ROOT in the tests, which fake a container's files. */
static const char *cgroup_root(void)
{
    const char *env = getenv("GRADCAM_CGROUP_ROOT");
    return env && *env ? env : "/sys/fs/cgroup";
}

/* Reads the first line of root/name into buf; 0 when there is no such file. */
static int read_cgroup_file(const char *name, char *buf, size_t len)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", cgroup_root(), name) >= (int)sizeof path)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    const int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    return ok;
}

int cpu_quota_cores(void)
{
    char line[128];
    long long quota = -1, period = 0;
    if (read_cgroup_file("cpu.max", line, sizeof line)) { /* v2: "max 100000" or "Q P" */
        if (sscanf(line, "%lld %lld", &quota, &period) != 2)
            quota = -1; /* "max": no quota */
    } else if (read_cgroup_file("cpu/cpu.cfs_quota_us", line, sizeof line) &&
               sscanf(line, "%lld", &quota) == 1 && quota > 0) { /* v1: -1 when unlimited */
        if (!read_cgroup_file("cpu/cpu.cfs_period_us", line, sizeof line) ||
            sscanf(line, "%lld", &period) != 1)
            quota = -1;
    }
    if (quota <= 0 || period <= 0)
        return 0;
    const long long cores = (quota + period - 1) / period; /* 1.5 cores' quota: 2 threads */
    return cores > INT_MAX ? INT_MAX : (int)cores;
}

int usable_cores(void)
{
    int n = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set); /* a cpuset (Slurm, docker --cpuset-cpus) or taskset's mask */
    if (n <= 0) {
        const long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online > 0 ? (int)online : 1;
    }
    const int quota = cpu_quota_cores(); /* docker --cpus, Kubernetes' CPU limit */
    return quota > 0 && quota < n ? quota : n;
}

size_t usable_memory(void)
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t ram = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : (size_t)8 << 30;
    char line[128];
    unsigned long long limit = 0; /* v2's memory.max is "max" when unlimited */
    if ((read_cgroup_file("memory.max", line, sizeof line) ||
         read_cgroup_file("memory/memory.limit_in_bytes", line, sizeof line)) &&
        sscanf(line, "%llu", &limit) == 1 && limit > 0 && limit < ram)
        ram = (size_t)limit;
    return ram;
}
