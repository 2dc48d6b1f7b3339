/*
 * util.c — small helpers of gradcam-bench: clocks, medians of the timed samples, the seeded
 * random stream of the inputs, names of enums, JSON strings, the CPU model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

double epoch_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median_of(const double *v, int n)
{
    double sorted[BENCH_MAX_SAMPLES];
    if (n <= 0)
        return 0.0;
    memcpy(sorted, v, sizeof(double) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

void summarize(bench_mode *m)
{
    double lo = m->samples_ms[0], hi = lo, sum = 0.0;
    for (int i = 0; i < m->count; i++) {
        lo = m->samples_ms[i] < lo ? m->samples_ms[i] : lo;
        hi = m->samples_ms[i] > hi ? m->samples_ms[i] : hi;
        sum += m->samples_ms[i];
    }
    m->median_ms = median_of(m->samples_ms, m->count);
    m->min_ms = lo;
    m->max_ms = hi;
    m->mean_ms = sum / m->count;
}

/* xorshift64*: a seeded, platform-independent stream for the inputs. */
uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* Roughly N(0,1) (sum of 4 uniforms, rescaled): like a normalized ImageNet image. */
float rng_normal(uint64_t *s)
{
    double acc = 0.0;
    for (int i = 0; i < 4; i++)
        acc += (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)((acc - 2.0) * 1.7320508075688772);
}

void cpu_model(char *out, size_t len)
{
    snprintf(out, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            const char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                snprintf(out, len, "%s", p);
                out[strcspn(out, "\n")] = 0;
            }
            break;
        }
    }
    fclose(f);
}

void json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

const char *method_name(gc_method m)
{
    static const char *const names[] = {"gradcam",  "gradcam++",       "xgradcam",
                                        "layercam", "hirescam",        "guided-backprop",
                                        "guided-gradcam"};
    return (unsigned)m <= GC_METHOD_GUIDED_GRADCAM ? names[m] : "?";
}

int guided_tensor(gc_method m)
{
    return m == GC_METHOD_GUIDED_GRADCAM    ? GC_TENSOR_GUIDED_GRADCAM
           : m == GC_METHOD_GUIDED_BACKPROP ? GC_TENSOR_GUIDED_BACKPROP
                                            : -1;
}

const char *backend_name(gc_backend b)
{
    return b == GC_BACKEND_CUDA ? "cuda" : b == GC_BACKEND_CPU ? "cpu" : "auto";
}
