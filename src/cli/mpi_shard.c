/*
 * mpi_shard.c — see mpi_shard.h. All MPI calls of the command are here.
 */
#include "mpi_shard.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef GC_WITH_MPI
#include <mpi.h>

int mpi_built(void) { return 1; }

/* Open MPI's mpirun, MPICH's hydra / Slurm's PMI2, PMIx (srun --mpi=pmix, Open MPI 5) */
static int launched_by_mpi(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}

int mpi_start(mpi_world *w)
{
    *w = (mpi_world){0, 1, 0, 1, 0};
    if (!launched_by_mpi())
        return 1;
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "gradcam: MPI_Init failed\n");
        return 0;
    }
    w->active = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL,
                            &local) == MPI_SUCCESS) {
        MPI_Comm_rank(local, &w->local_rank);
        MPI_Comm_size(local, &w->local_size);
        MPI_Comm_free(&local);
    } else { /* cannot tell the nodes apart: count every rank as a neighbour */
        w->local_rank = w->rank;
        w->local_size = w->size;
    }
    return 1;
}

int mpi_agree(const mpi_world *w, int rc, int *first)
{
    int all = rc, me = rc ? w->rank : INT_MAX, low = me;
    if (w->active) {
        MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(&me, &low, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    }
    if (first)
        *first = low == INT_MAX ? -1 : low;
    return all;
}

void mpi_sum(const mpi_world *w, uint64_t *v, int n)
{
    if (w->active)
        MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
}

void mpi_stop(mpi_world *w)
{
    if (w->active)
        MPI_Finalize();
    w->active = 0;
}

#else /* no MPI: one process */

int mpi_built(void) { return 0; }

int mpi_start(mpi_world *w)
{
    *w = (mpi_world){0, 1, 0, 1, 0};
    return 1;
}

int mpi_agree(const mpi_world *w, int rc, int *first)
{
    if (first)
        *first = rc ? w->rank : -1;
    return rc;
}

void mpi_sum(const mpi_world *w, uint64_t *v, int n) { (void)w, (void)v, (void)n; }

void mpi_stop(mpi_world *w) { (void)w; }

#endif
