/*
 * mpi_shard.h — the command under `mpirun -np K` (built with GC_WITH_MPI): each rank takes a
 * sub-shard of the inputs (cfg->rank / cfg->ranks, see in_shard), writes its own results
 * part file, and rank 0 merges them. Only the main thread calls these (MPI_THREAD_FUNNELED).
 * Without GC_WITH_MPI, or when no MPI launcher started the process, they are no-ops for a
 * world of one process.
 */
#ifndef GC_CLI_MPI_SHARD_H
#define GC_CLI_MPI_SHARD_H

#include <stdint.h>

typedef struct mpi_world {
    int rank, size;             /* among all processes: 0 / 1 without MPI                  */
    int local_rank, local_size; /* among those on this node (MPI_COMM_TYPE_SHARED)         */
    int active;                 /* MPI_Init was called: mpi_stop must finalize             */
} mpi_world;

/* 1 when the program was built with MPI (for --version). */
int mpi_built(void);
/* Starts MPI when a launcher (mpirun, srun) started the process; else a world of one. A
 * plain run of an MPI build so never needs the MPI runtime. 0 on failure (message printed). */
int mpi_start(mpi_world *w);
/* The largest of every rank's rc; *first (may be NULL) gets the lowest rank whose rc is not
 * 0 (-1 when none), the one that speaks for the rest. Collective: every rank calls it at the
 * same point, so it also orders the ranks' steps (nothing after it starts before every rank
 * reached it). */
int mpi_agree(const mpi_world *w, int rc, int *first);
/* Sums n counters over all ranks, in place on every rank. Collective. */
void mpi_sum(const mpi_world *w, uint64_t *v, int n);
/* Finalizes MPI if mpi_start started it. */
void mpi_stop(mpi_world *w);

#endif
