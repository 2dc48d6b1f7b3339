/*
 * fuzz_model.c — libFuzzer target: the bytes as a weights file through gc_model_load, the
 * whole way from safetensors to a gc_model (layout detection, cfg inference or parsing, shape
 * checks, BatchNorm folding, reordering, metadata), without and with an arch override.
 *
 * A model that loads must be one the backends can run without reading out of bounds: convs
 * chained channel to channel from 3 inputs, weights and biases present, dense layers chained
 * out to in, at least one class. Those promises are checked; a refusal needs a message and
 * leaves the model zeroed.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_file.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_model(const gc_model *m)
{
    FUZZ_CHECK(m->n_layers >= 1 && m->n_layers <= GC_MAX_LAYERS);
    FUZZ_CHECK(m->layers[0].kind == GC_LAYER_CONV && m->layers[0].cin == 3);
    int32_t c = 3;
    for (int32_t i = 0; i < m->n_layers; i++) {
        const gc_layer *L = &m->layers[i];
        FUZZ_CHECK(L->cin == c && L->cout >= 1);
        if (L->kind == GC_LAYER_CONV)
            FUZZ_CHECK(L->w && L->b);
        else
            FUZZ_CHECK(L->cout == L->cin);
        c = L->cout;
    }
    FUZZ_CHECK(m->n_dense >= 1 && m->n_dense <= GC_MAX_DENSE);
    FUZZ_CHECK(m->fc1_kernel >= 1 && m->head_pool >= 1);
    FUZZ_CHECK(m->dense[0].in == c * m->fc1_kernel * m->fc1_kernel);
    for (int32_t i = 0; i < m->n_dense; i++) {
        FUZZ_CHECK(m->dense[i].w && m->dense[i].b && m->dense[i].out >= 1);
        if (i > 0)
            FUZZ_CHECK(m->dense[i].in == m->dense[i - 1].out);
    }
    FUZZ_CHECK(m->num_classes == m->dense[m->n_dense - 1].out);
    FUZZ_CHECK(m->n_labels == 0 || m->labels);
    for (int32_t i = 0; i < m->n_labels; i++)
        FUZZ_CHECK(m->labels[i] != NULL);
    gc_geometry g;
    gc_model_geometry(m, 224, 224, &g);
    FUZZ_CHECK(g.h[m->n_layers - 1] >= 0 && g.w[m->n_layers - 1] >= 0);
}

static void load(const char *path, const char *arch)
{
    gc_model m;
    gc_errbuf err = {{0}};
    gc_status st = gc_model_load(&m, path, arch, &err);
    if (st == GC_OK) {
        check_model(&m);
        gc_model_free(&m);
        return;
    }
    FUZZ_CHECK(st == GC_ERR_WEIGHTS_FORMAT || st == GC_ERR_MODEL || st == GC_ERR_IO ||
               st == GC_ERR_OUT_OF_MEMORY || st == GC_ERR_INVALID_ARGUMENT);
    FUZZ_CHECK(err.msg[0] != 0);
    FUZZ_CHECK(m.n_layers == 0 && m.n_dense == 0 && !m.labels);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file_write("model", data, size);
    load(path, NULL);
    /* the override path (it wins over metadata and inference): a short cfg that files with
     * few tensors can meet */
    if (size > 0 && (data[size - 1] & 1))
        load(path, "4,M");
    return 0;
}
