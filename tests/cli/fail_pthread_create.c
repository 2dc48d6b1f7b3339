/*
 * fail_pthread_create.c — an LD_PRELOAD shim for tests: pthread_create succeeds
 * GC_TEST_THREADS_OK times in the process, then fails with EAGAIN, as it does at a thread
 * limit (ulimit -u, a container's pids.max). Without the variable it only passes calls on.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static atomic_long started;

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    const create_fn real = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
    const char *ok = getenv("GC_TEST_THREADS_OK");
    if (!real || (ok && atomic_fetch_add(&started, 1) >= atol(ok)))
        return EAGAIN;
    return real(t, attr, fn, arg);
}
