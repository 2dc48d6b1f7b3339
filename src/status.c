/*
 * status.c — status names, the error-buffer helpers, the version string and the clock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gc_internal.h"

const char *gc_precision_name(gc_precision precision)
{
    static const char *const names[] = {"auto", "fp32", "tf32", "bf16", "fp16"};
    return (unsigned)precision <= GC_PRECISION_FP16 ? names[precision] : "?";
}

const char *gc_status_string(gc_status status)
{
    switch (status) {
    case GC_OK: return "ok";
    case GC_ERR_INVALID_ARGUMENT: return "invalid argument";
    case GC_ERR_OUT_OF_MEMORY: return "out of memory";
    case GC_ERR_IO: return "I/O error";
    case GC_ERR_WEIGHTS_FORMAT: return "invalid weights file";
    case GC_ERR_MODEL: return "unsupported model";
    case GC_ERR_LAYER: return "unknown or unusable target layer";
    case GC_ERR_UNSUPPORTED: return "not supported by this backend";
    case GC_ERR_BACKEND: return "backend failure";
    case GC_ERR_BUFFER_TOO_SMALL: return "buffer too small";
    case GC_ERR_BAD_STATE: return "context unusable after an earlier fatal error";
    case GC_ERR_NOT_AVAILABLE: return "not available";
    }
    return "unknown status";
}

#define GC_STR2(x) #x
#define GC_STR(x) GC_STR2(x)

const char *gc_version_string(void)
{
    return GC_STR(GRADCAM_VERSION_MAJOR) "." GC_STR(GRADCAM_VERSION_MINOR) "." GC_STR(
        GRADCAM_VERSION_PATCH);
}

gc_status gc_fail(gc_errbuf *err, gc_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

gc_status gc_fail_text(char *err, size_t err_len, gc_status status, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *gc_errno_text(int e, char *buf, size_t len)
{
    if (strerror_r(e, buf, len) != 0) /* the XSI one: this file has _POSIX_C_SOURCE only */
        snprintf(buf, len, "error %d", e);
    return buf;
}

void gc_err_prefix(gc_errbuf *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[GC_ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix);
    if (plen >= sizeof err->msg)
        plen = sizeof err->msg - 1;
    /* shift the old message right (truncating its end), then put the prefix in front */
    memmove(err->msg + plen, err->msg, sizeof err->msg - plen - 1);
    err->msg[sizeof err->msg - 1] = 0;
    memcpy(err->msg, prefix, plen);
}

double gc_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}
