/*
 * devices.c — which GPUs this process drives. `--device N` is one device as before;
 * `--device all` and `--device N,M,...` give one worker (its own context and thread) per
 * device, the pipeline handing batches to whichever is free. Under mpirun each rank takes one
 * device instead, by its node-local rank, so that the ranks of a node share out its GPUs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int devices_parse(const char *s, cli_config *cfg)
{
    cfg->device_given = 1;
    cfg->device_all = 0;
    cfg->n_devices = 0;
    if (strcmp(s, "all") == 0) {
        cfg->device_all = 1;
        return 1;
    }
    const char *p = s;
    for (;;) {
        char *end;
        if (*p < '0' || *p > '9')
            return 0; /* also "", ",1", "1,,2", "-1", " 1" */
        long v = strtol(p, &end, 10);
        if (v > 1024 || cfg->n_devices == MAX_DEVICES)
            return 0;
        for (int i = 0; i < cfg->n_devices; i++)
            if (cfg->devices[i] == v)
                return 0; /* the same device twice would only contend with itself */
        cfg->devices[cfg->n_devices++] = (int32_t)v;
        if (*end == 0)
            break;
        if (*end != ',')
            return 0;
        p = end + 1;
    }
    cfg->lib.device = cfg->devices[0];
    return 1;
}

int devices_resolve(cli_config *cfg, int local_rank, char *err, size_t errlen)
{
    const int several = cfg->device_all || cfg->n_devices > 1;
    char what[64] = "--device all"; /* the option as given, for the messages */
    for (int i = 0, n = 0; !cfg->device_all && i < cfg->n_devices && n < (int)sizeof what; i++)
        n += snprintf(what + n, sizeof what - (size_t)n, "%s%d", i ? "," : "--device ",
                      cfg->devices[i]);
    if (several && cfg->lib.backend == GC_BACKEND_CPU) {
        snprintf(err, errlen, "%s drives GPUs: it needs the CUDA backend, not --backend cpu",
                 what);
        return 0;
    }
    if (cfg->device_given && cfg->lib.backend == GC_BACKEND_CPU && !cfg->quiet &&
        cfg->rank == 0) /* one device asked for, the CPU named: say it goes unused */
        fprintf(stderr, "gradcam: note: %s is ignored with --backend cpu\n", what);
    if (cfg->per_device > 1 && cfg->lib.backend == GC_BACKEND_CPU) {
        snprintf(err, errlen, "--workers-per-device %d shares a GPU: it needs --backend cuda "
                 "or auto", cfg->per_device);
        return 0;
    }
    if (cfg->per_device > 1 && cfg->lib.backend == GC_BACKEND_AUTO)
        cfg->lib.backend = GC_BACKEND_CUDA; /* GPUs asked for: none is an error */
    /* ask the driver only where the answer matters: the question costs a CUDA start-up */
    const int ask = several || (local_rank >= 0 && !cfg->device_given &&
                                cfg->lib.backend != GC_BACKEND_CPU);
    const int32_t count = cfg->lib.backend == GC_BACKEND_CPU || !ask ? 0 : gc_cuda_device_count();
    if (several && count == 0) {
        snprintf(err, errlen, "%s: no CUDA device (this build has no CUDA backend, or no GPU "
                 "and driver are usable)", what);
        return 0;
    }
    for (int i = 0; several && i < cfg->n_devices; i++)
        if (cfg->devices[i] >= count) {
            snprintf(err, errlen, "--device %d: there %s only %d CUDA device%s (0..%d)",
                     cfg->devices[i], count == 1 ? "is" : "are", count, count == 1 ? "" : "s",
                     count - 1);
            return 0;
        }
    if (cfg->device_all) {
        cfg->n_devices = count < MAX_DEVICES ? count : MAX_DEVICES;
        for (int i = 0; i < cfg->n_devices; i++)
            cfg->devices[i] = i;
    }
    if (several && cfg->lib.backend == GC_BACKEND_AUTO)
        cfg->lib.backend = GC_BACKEND_CUDA; /* several GPUs asked for: none is an error */
    if (local_rank >= 0) {
        /* MPI: one device per rank; from the list, or from the node's when none was given
         * (an explicit single --device N is kept: the user placed the ranks) */
        if (several) {
            cfg->lib.device = cfg->devices[local_rank % cfg->n_devices];
        } else if (!cfg->device_given && count > 0) {
            cfg->lib.device = local_rank % count;
        }
        cfg->n_devices = 0;
    }
    if (cfg->n_devices <= 1) { /* one context, on lib.device */
        cfg->n_devices = 1;
        cfg->devices[0] = cfg->lib.device;
    }
    const int contexts = cfg->n_devices * cfg->per_device;
    if (!cfg->lib.threads) { /* each context preprocesses: share the cores (a cgroup's quota
                                 included, which the library's OpenMP does not see) */
        cfg->lib.threads = (int32_t)(cfg->cores / contexts > 1 ? cfg->cores / contexts : 1);
    }
    return 1;
}
