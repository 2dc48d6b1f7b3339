/*
 * fail_pthread_create.c — an LD_PRELOAD shim for tests: pthread_create fails with EAGAIN, as
 * it does at a thread limit (ulimit -u, a container's pids.max), on the calls the environment
 * names, counting the process's calls from 0:
 *   GC_TEST_THREADS_OK=K       every call from the K-th on (the limit reached)
 *   GC_TEST_THREADS_FAIL=I,J   calls I and J only (a limit touched for a moment)
 * Without either it only passes calls on.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static atomic_long calls;

static int listed(long call, const char *list)
{
    for (char *end; list && *list; list = *end ? end + 1 : end) {
        if (strtol(list, &end, 10) == call)
            return 1;
        if (end == list)
            return 0; /* not a number: nothing more to read */
    }
    return 0;
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    const create_fn real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    const long call = atomic_fetch_add(&calls, 1);
    const char *ok = getenv("GC_TEST_THREADS_OK");
    if (!real || (ok && call >= atol(ok)) || listed(call, getenv("GC_TEST_THREADS_FAIL")))
        return EAGAIN;
    return real(t, attr, fn, arg);
}
