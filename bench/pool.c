/*
 * pool.c — a persistent host thread pool: fn(arg, item, thread) for items 0..n-1, split
 * dynamically; the caller is thread 0. For the host mode's rendering and the files mode's
 * JPEG generation.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct pool_worker {
    pool *p;
    int32_t index;
} pool_worker;

static void pool_drain(pool *p, int32_t thread)
{
    for (;;) {
        int32_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n)
            break;
        p->fn(p->arg, i, thread);
    }
}

static void *pool_main(void *arg)
{
    pool_worker *w = arg;
    pool *p = w->p;
    for (;;) {
        pthread_barrier_wait(&p->start);
        if (p->stop)
            break;
        pool_drain(p, w->index);
        pthread_barrier_wait(&p->done);
    }
    return NULL;
}

static pool_worker pool_workers[1024];

/* threads - 1 helpers; the caller is thread 0. Returns 0 on failure. */
int pool_init(pool *p, int32_t threads)
{
    memset(p, 0, sizeof *p);
    p->threads = threads < 1 ? 1 : threads > 1024 ? 1024 : threads;
    p->tid = calloc((size_t)p->threads, sizeof *p->tid);
    if (!p->tid || pthread_barrier_init(&p->start, NULL, (unsigned)p->threads) ||
        pthread_barrier_init(&p->done, NULL, (unsigned)p->threads))
        return 0;
    for (int32_t t = 1; t < p->threads; t++) {
        pool_workers[t] = (pool_worker){p, t};
        if (pthread_create(&p->tid[t], NULL, pool_main, &pool_workers[t]))
            return 0; /* not reached in practice; the bench exits on it */
    }
    return 1;
}

void pool_run(pool *p, pool_fn fn, void *arg, int32_t n)
{
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    atomic_store(&p->next, 0);
    pthread_barrier_wait(&p->start);
    pool_drain(p, 0);
    pthread_barrier_wait(&p->done);
}

void pool_destroy(pool *p)
{
    p->stop = 1;
    pthread_barrier_wait(&p->start);
    for (int32_t t = 1; t < p->threads; t++)
        pthread_join(p->tid[t], NULL);
    pthread_barrier_destroy(&p->start);
    pthread_barrier_destroy(&p->done);
    free(p->tid);
}
