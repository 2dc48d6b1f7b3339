/*
 * machine.c — what the machine lends this process: cores and memory, as a container or a
 * batch scheduler limits them. A GPU node's job often sees 64 cores online but may use 16
 * (Slurm's cpuset, a container's CPU quota): sizing the decode and encode threads by the
 * online count would run four threads per core.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h> /* sched_getaffinity, CPU_COUNT: _GNU_SOURCE, as the command is built */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"

/* The cgroup mount and this process's cgroup file: in the tests (GRADCAM_CGROUP_ROOT) a
 * folder of fake files, with its own "self" in place of /proc/self/cgroup. */
static const char *cgroup_root(void)
{
    const char *env = getenv("GRADCAM_CGROUP_ROOT");
    return env && *env ? env : "/sys/fs/cgroup";
}

static int read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    const int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    return ok;
}

static int read_in(const char *dir, const char *name, char *buf, size_t len)
{
    char path[PATH_MAX];
    return snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path &&
           read_line(path, buf, len);
}

/* One cgroup folder's limit: whole cores of its CPU quota (0: none), or its memory limit
 * in bytes (0: none). v2 folders have cpu.max ("max P" or "Q P") and memory.max ("max" or
 * bytes); v1's cpu.cfs_quota_us (-1: none) with cpu.cfs_period_us, and
 * memory.limit_in_bytes (a huge number: none). */
typedef unsigned long long limit_fn(const char *dir);

static unsigned long long dir_cpu_cores(const char *dir)
{
    char line[128];
    long long quota = -1, period = 0;
    if (read_in(dir, "cpu.max", line, sizeof line)) {
        if (sscanf(line, "%lld %lld", &quota, &period) != 2)
            quota = -1;
    } else if (read_in(dir, "cpu.cfs_quota_us", line, sizeof line) &&
               sscanf(line, "%lld", &quota) == 1 && quota > 0) {
        if (!read_in(dir, "cpu.cfs_period_us", line, sizeof line) ||
            sscanf(line, "%lld", &period) != 1)
            quota = -1;
    }
    if (quota <= 0 || period <= 0)
        return 0;
    return (unsigned long long)((quota + period - 1) / period); /* 1.5 cores: 2 threads */
}

static unsigned long long dir_memory(const char *dir)
{
    char line[128];
    unsigned long long limit = 0;
    if ((read_in(dir, "memory.max", line, sizeof line) ||
         read_in(dir, "memory.limit_in_bytes", line, sizeof line)) &&
        sscanf(line, "%llu", &limit) == 1)
        return limit;
    return 0;
}

/* The lowest limit of this process's cgroup and every parent up to the mount: a limit set
 * on a parent (a systemd slice, a Slurm job over its steps) binds the children too. The
 * cgroup comes from /proc/self/cgroup: v2's "0::/path", or for v1 the line naming
 * `controller` ("4:cpu,cpuacct:/path", mounted at root/cpu,cpuacct or root/cpu). Without
 * that file, the mount's own folders (a container's private cgroup namespace). */
static unsigned long long cgroup_limit(const char *controller, limit_fn *limit)
{
    const char *root = cgroup_root();
    char self[PATH_MAX], line[PATH_MAX], base[PATH_MAX], dir[PATH_MAX];
    if (getenv("GRADCAM_CGROUP_ROOT") && *getenv("GRADCAM_CGROUP_ROOT"))
        snprintf(self, sizeof self, "%s/self", root);
    else
        snprintf(self, sizeof self, "/proc/self/cgroup");
    unsigned long long best = 0;
    int found = 0;
    FILE *f = fopen(self, "r");
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2 || c2[1] != '/')
            continue;
        *c1 = *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        int n;
        if (!strcmp(line, "0") && !*ctrls) { /* v2 */
            n = snprintf(base, sizeof base, "%s", root);
        } else {
            char list[256];
            snprintf(list, sizeof list, ",%s,", ctrls);
            char want[64];
            snprintf(want, sizeof want, ",%s,", controller);
            if (!strstr(list, want))
                continue;
            n = snprintf(base, sizeof base, "%s/%s", root, ctrls);
            if (n < (int)sizeof base && access(base, F_OK) != 0)
                n = snprintf(base, sizeof base, "%s/%s", root, controller);
        }
        if (n >= (int)sizeof base ||
            snprintf(dir, sizeof dir, "%s%s", base, path) >= (int)sizeof dir)
            continue;
        found = 1;
        const size_t stop = strlen(base);
        for (;;) { /* the cgroup, then each parent up to the mount */
            const unsigned long long v = limit(dir);
            if (v && (!best || v < best))
                best = v;
            char *slash = strrchr(dir, '/');
            if (strlen(dir) <= stop || !slash || (size_t)(slash - dir) < stop)
                break;
            *slash = '\0';
        }
    }
    if (f)
        fclose(f);
    if (!found) { /* no /proc/self/cgroup: the mount's v2 and v1 folders */
        const unsigned long long v2 = limit(root);
        snprintf(dir, sizeof dir, "%s/%s", root, controller);
        const unsigned long long v1 = limit(dir);
        best = v2 && (!v1 || v2 < v1) ? v2 : v1;
    }
    return best;
}

static int cpu_quota_cores(void)
{
    const unsigned long long cores = cgroup_limit("cpu", dir_cpu_cores);
    return cores > INT_MAX ? INT_MAX : (int)cores;
}

static int affinity_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set); /* a cpuset (Slurm, docker --cpuset-cpus) or taskset's mask */
    return 0;
}

static int online_cores(void)
{
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

int rank_cores(int local_ranks)
{
    /* Ranks bound to their own cores (Slurm's default, Open MPI's binding) each see their
     * share in the mask already; unbound ones see the whole machine and split it. A CPU
     * quota (docker --cpus, a Kubernetes limit) is the node's ranks' together only when
     * they share a cgroup: split it too. */
    const int ranks = local_ranks > 1 ? local_ranks : 1;
    const int mask = affinity_cores(), quota = cpu_quota_cores(), online = online_cores();
    int n = mask > 0 ? mask : online;
    if (mask <= 0 || mask >= online)
        n /= ranks;
    if (quota > 0 && quota / ranks < n)
        n = quota / ranks;
    return n > 0 ? n : 1;
}

size_t usable_memory(void)
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t ram = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : (size_t)8 << 30;
    const unsigned long long limit = cgroup_limit("memory", dir_memory);
    return limit && limit < ram ? (size_t)limit : ram;
}

int io_nice_setting(const cli_config *cfg)
{
    const char *env = getenv("GRADCAM_IO_NICE");
    if (!env || !*env)
        return 0;
    char *end = NULL;
    const long v = strtol(env, &end, 10);
    if (!*end && v >= 0 && v <= 19)
        return (int)v;
    print_note(cfg, "GRADCAM_IO_NICE='%s' is not a number of nice steps (0-19): ignored", env);
    return 0;
}

int lower_thread_priority(int by)
{
    const id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    const int now = getpriority(PRIO_PROCESS, tid);
    if (now == -1 && errno)
        return INT_MIN;
    if (by > 0)
        (void)setpriority(PRIO_PROCESS, tid, now + by > 19 ? 19 : now + by); /* never fails
                                                             for lowering our own priority */
    errno = 0;
    const int after = getpriority(PRIO_PROCESS, tid);
    return after == -1 && errno ? INT_MIN : after;
}
