/*
 * fuzz_file.h — for fuzz targets whose code under test takes a path (st_open maps a file,
 * gc_image_read reads one): the input's bytes go to one scratch file per process and target,
 * rewritten on every call. Where: $TMPDIR when set, else /dev/shm (memory, no disk traffic),
 * else /tmp. The file is removed at exit (a crashing run may leave it behind; scripts/fuzz.sh
 * points TMPDIR into build-fuzz/ for that reason).
 *
 * Test code, not library code: it may print and abort.
 */
#ifndef GC_FUZZ_FILE_H
#define GC_FUZZ_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_fuzz_path[4096];

static inline void fuzz_file_remove(void)
{
    if (g_fuzz_path[0])
        unlink(g_fuzz_path);
}

/* Writes data to this process's scratch file and returns its path; aborts when it cannot
 * (a fuzzer that silently tests nothing is worse than one that stops). */
static inline const char *fuzz_file_write(const char *tag, const uint8_t *data, size_t size)
{
    if (!g_fuzz_path[0]) {
        const char *dir = getenv("TMPDIR");
        struct stat sb;
        if (!dir || !dir[0])
            dir = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0
                      ? "/dev/shm"
                      : "/tmp";
        snprintf(g_fuzz_path, sizeof g_fuzz_path, "%s/gc_fuzz_%s_%ld", dir, tag, (long)getpid());
        atexit(fuzz_file_remove);
    }
    int fd = open(g_fuzz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", g_fuzz_path, strerror(errno));
        abort();
    }
    size_t done = 0;
    while (done < size) {
        ssize_t put = write(fd, data + done, size - done);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0) {
            fprintf(stderr, "fuzz: cannot write %s: %s\n", g_fuzz_path, strerror(errno));
            abort();
        }
        done += (size_t)put;
    }
    close(fd);
    return g_fuzz_path;
}

/* A broken promise of the code under test: say which and stop, so that libFuzzer keeps the
 * input and the replay test fails. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif /* GC_FUZZ_FILE_H */
