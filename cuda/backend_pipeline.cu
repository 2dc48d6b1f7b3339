/*
 * backend_pipeline.cu — gc_explain_render's batch in two halves, each half's copies and host
 * work beside the other half's compute (GC_RENDER_PIPELINE=1: an experiment, off by default;
 * NOT YET RUN ON A GPU).
 *
 * Why: the command's calls of 256 JPEGs of 224² took 29.6 ms on the H100 machine against
 * 16.3 ms of compute (2026-11-27): the images' packing and upload, the results and the cams'
 * normalization on the host, the render and the outputs' download and unpacking all ran
 * while the GPU waited. Here, on the compute stream, half A is preprocessed and explained,
 * then half B; on a second stream (`copy`) the halves' pixels go up and their outputs are
 * rendered and come down:
 *
 *   host    pack A | pack B            | results A, unpack A        | results B, unpack B
 *   copy    A up   | B up              | A's cams up, render A, down | B's ...
 *   compute        | pre A, explain A  | pre B, explain B           |
 *
 * so that the host's work on one half (and its copies) overlaps the GPU's work on the other.
 * The halves run on conv plans of their own (a set built at create for (max_batch + 1) / 2
 * images, bound to the same buffers; backend_plans.cu): a cuDNN plan runs its whole batch, so
 * a half on the full plans would cost a whole batch's convs (a read-only review's finding). A
 * context of 128 ran the network about as fast as one of 256 (15,660 against 15,709 img/s in
 * bf16 on the H100); the price is the plans' build time at create, twice. The order between the streams: B's
 * preprocessing waits for B's pixels (an event); the compute stream takes the halves one
 * after the other (x, the activations and the results' device buffers are shared) and
 * brings each half's results down before the next half's work; the copy stream's renders
 * read only what went up on it. The ring's slots serve the uploads and the downloads alike,
 * all on the copy stream, in its order. The staged batch's tensors are those of half B only,
 * so gc_tensor_get has no batch after it (context.c's last_n stays 0); profiling and the
 * guided methods take the whole batch at once instead (context.c decides).
 */
#include <string.h>

#include "backend_state.cuh"

/* The copy stream and the halves' events, made at the first split batch. */
static gc_status split_resources(gc_context *ctx, cuda_state *s)
{
    GC_TRY(gcu_copy_stream(ctx, s));
    for (int k = 0; k < 4; k++)
        GC_TRY(gcu_event_once(ctx, &s->split_ev[k], gcu_event_flags(s)));
    return GC_OK;
}

gc_status gcu_explain_render_split(gc_context *ctx, cuda_state *s, const gc_image *images,
                                   const gc_region *regions, int32_t n, const int32_t *classes,
                                   float *logits, int32_t *class_ids, float *cams_raw,
                                   gc_finish_fn finish, void *arg, gc_colormap colormap,
                                   float alpha, uint8_t *const *overlays, uint8_t *const *heatmaps)
{
    gc_errbuf *err = &ctx->err;
    const size_t K = (size_t)ctx->model.num_classes, hw = (size_t)ctx->cam_h * ctx->cam_w;
    const int32_t half = (n + 1) / 2, lo[2] = {0, half}, hi[2] = {half, n};
    int heat, over;
    gcu_outputs_asked(overlays, heatmaps, 0, n, &heat, &over);
    GC_TRY(gcu_enter(ctx, s));
    GC_TRY(split_resources(ctx, s));
    /* the ring sized for the downloads from the start: no reallocation between the halves */
    GC_TRY(gcu_stage_table(ctx, s, images, regions, n, (size_t)(heat + over), s->copy));
    GC_TRY(gcu_reserve_out(ctx, s, 2 * s->img_pixels));
    for (int h = 0; h < 2; h++) { /* B's packing runs while the GPU explains A */
        GC_TRY(gcu_upload_pixels(ctx, s, images, lo[h], hi[h], s->copy));
        GC_CUDA_TRY(err, cudaEventRecord(s->split_ev[h], s->copy));
        GC_CUDA_TRY(err, cudaStreamWaitEvent(s->stream, s->split_ev[h], 0));
        GC_TRY(gcu_preprocess_range(ctx, s, lo[h], hi[h]));
        GC_TRY(gcu_explain_enqueue(ctx, s, hi[h] - lo[h], classes ? classes + lo[h] : NULL,
                                   s->h_classes + lo[h], logits + (size_t)lo[h] * K,
                                   cams_raw + (size_t)lo[h] * hw, 0));
        GC_CUDA_TRY(err, cudaEventRecord(s->split_ev[2 + h], s->stream));
    }
    for (int h = 0; h < 2; h++) { /* A's results, render and unpacking while B computes */
        GC_CUDA_TRY(err, cudaEventSynchronize(s->split_ev[2 + h]));
        memcpy(class_ids + lo[h], s->h_classes + lo[h], sizeof(int32_t) * (size_t)(hi[h] - lo[h]));
        const float *cams = NULL;
        GC_TRY(finish(ctx, arg, lo[h], hi[h], &cams));
        int h_heat, h_over; /* a half whose entries are all NULL renders nothing */
        if (!gcu_outputs_asked(overlays, heatmaps, lo[h], hi[h], &h_heat, &h_over))
            continue;
        GC_TRY(gcu_enqueue_render(ctx, s, lo[h], hi[h], cams, colormap, alpha, s->copy));
        GC_TRY(gcu_download_outputs(ctx, s, lo[h], hi[h], overlays, heatmaps, s->copy));
    }
    /* both streams done (the downloads waited for theirs already): an event, which sleeps in
     * blocking-sync mode as gcu_wait does */
    GC_CUDA_TRY(err, cudaEventRecord(s->split_ev[0], s->copy));
    GC_CUDA_TRY(err, cudaEventSynchronize(s->split_ev[0]));
    GC_TRY(gcu_wait(ctx, s));
    s->img_n = n;
    return GC_OK;
}
