/*
 * queue.h — a bounded, blocking, closable FIFO of pointers for the command's pipeline
 * (decode workers -> batcher -> render/encode workers). Bounded so that memory stays flat
 * however many inputs there are.
 */
#ifndef GC_CLI_QUEUE_H
#define GC_CLI_QUEUE_H

#include <pthread.h>
#include <stddef.h>

typedef struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    void **items;
    size_t cap, head, count;
    int closed;
} queue;

int queue_init(queue *q, size_t cap);
void queue_destroy(queue *q);
/* Blocks while full. Returns 0 if the queue was closed (the item is not taken). */
int queue_push(queue *q, void *item);
/* Blocks while empty and open. NULL once closed and drained. */
void *queue_pop(queue *q);
/* Waits at most timeout_ms; *timed_out says whether it gave up (returns NULL then). */
void *queue_pop_timed(queue *q, int timeout_ms, int *timed_out);
/* No more pushes; poppers drain what is left, then get NULL. */
void queue_close(queue *q);

#endif
