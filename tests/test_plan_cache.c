/*
 * test_plan_cache.c — the autotuner's on-disk choices (cuda/plan_cache.c): where the file
 * goes, a round trip, a later line winning, damaged lines ignored, 8 processes appending at
 * once without losing or mixing a line, and failures reported rather than fatal.
 * Usage: test_plan_cache SCRATCH_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan_cache.h"

static int failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            printf("  FAIL line %d: ", __LINE__);                                              \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

static void test_path(void)
{
    char buf[512];
    setenv("GC_CUDNN_PLAN_CACHE", "off", 1);
    CHECK(gc_plan_cache_path(buf, sizeof buf) == NULL, "off");
    setenv("GC_CUDNN_PLAN_CACHE", "0", 1);
    CHECK(gc_plan_cache_path(buf, sizeof buf) == NULL, "0");
    setenv("GC_CUDNN_PLAN_CACHE", "/somewhere/plans.tsv", 1);
    const char *p = gc_plan_cache_path(buf, sizeof buf);
    CHECK(p && !strcmp(p, "/somewhere/plans.tsv"), "explicit: %s", p ? p : "NULL");
    unsetenv("GC_CUDNN_PLAN_CACHE");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    p = gc_plan_cache_path(buf, sizeof buf);
    CHECK(p && !strcmp(p, "/xdg/gradcam/cudnn-plans.tsv"), "XDG: %s", p ? p : "NULL");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    p = gc_plan_cache_path(buf, sizeof buf);
    CHECK(p && !strcmp(p, "/home/u/.cache/gradcam/cudnn-plans.tsv"), "HOME: %s",
          p ? p : "NULL");
}

static void test_round_trip(const char *dir)
{
    char path[512], why[300];
    snprintf(path, sizeof path, "%s/a/b/plans.tsv", dir); /* folders made on the first add */
    gc_plan_cache c;
    CHECK(gc_plan_cache_open(&c, path, why, sizeof why) == 0, "open missing: %s", why);
    CHECK(c.n == 0, "a missing file is an empty cache");
    CHECK(gc_plan_cache_add(&c, "H100|sm90|fwd|n8", "eng12_k3=1", why, sizeof why) == 0,
          "add: %s", why);
    CHECK(gc_plan_cache_add(&c, "H100|sm90|bwd|n8", "eng0", why, sizeof why) == 0, "add: %s",
          why);
    CHECK(gc_plan_cache_add(&c, "k\tey", "eng1", why, sizeof why) != 0, "a tab in a key");
    CHECK(gc_plan_cache_add(&c, "key", "eng\n1", why, sizeof why) != 0, "a newline in a tag");
    gc_plan_cache_close(&c);

    CHECK(gc_plan_cache_open(&c, path, why, sizeof why) == 0, "reopen: %s", why);
    const char *t = gc_plan_cache_find(&c, "H100|sm90|fwd|n8");
    CHECK(t && !strcmp(t, "eng12_k3=1"), "fwd: %s", t ? t : "NULL");
    t = gc_plan_cache_find(&c, "H100|sm90|bwd|n8");
    CHECK(t && !strcmp(t, "eng0"), "bwd: %s", t ? t : "NULL");
    CHECK(gc_plan_cache_find(&c, "H100|sm90|fwd|n16") == NULL, "an unknown key");
    CHECK(gc_plan_cache_add(&c, "H100|sm90|fwd|n8", "eng7", why, sizeof why) == 0, "re-add");
    gc_plan_cache_close(&c);
    CHECK(gc_plan_cache_open(&c, path, why, sizeof why) == 0, "reopen: %s", why);
    t = gc_plan_cache_find(&c, "H100|sm90|fwd|n8");
    CHECK(t && !strcmp(t, "eng7"), "the later line wins: %s", t ? t : "NULL");
    CHECK(c.n == 2, "2 keys, %d", c.n);
    gc_plan_cache_close(&c);

    CHECK(gc_plan_cache_open(&c, NULL, why, sizeof why) == 0, "an off cache opens");
    CHECK(gc_plan_cache_add(&c, "k", "v", why, sizeof why) == 0, "and ignores adds");
    CHECK(gc_plan_cache_find(&c, "k") == NULL, "and finds nothing");
    gc_plan_cache_close(&c);
}

static void test_damaged(const char *dir)
{
    char path[512], why[300];
    snprintf(path, sizeof path, "%s/damaged.tsv", dir);
    FILE *f = fopen(path, "w");
    fputs("# a comment\tlooking like an entry\n"
          "good1\teng1\n"
          "no tab here\n"
          "\tno key\n"
          "no tag\t\n"
          "two\ttabs\there\n",
          f);
    for (int i = 0; i < 1500; i++) /* an over-long line */
        fputc('x', f);
    fputs("\tengX\n"
          "good2\teng2\n"
          "cut short by a cra",
          f);
    fclose(f);
    gc_plan_cache c;
    CHECK(gc_plan_cache_open(&c, path, why, sizeof why) == 0, "open: %s", why);
    CHECK(c.n == 2, "2 good lines, got %d", c.n);
    const char *t = gc_plan_cache_find(&c, "good2");
    CHECK(t && !strcmp(t, "eng2"), "good2 after the over-long line: %s", t ? t : "NULL");
    CHECK(gc_plan_cache_find(&c, "cut short by a cra") == NULL, "a line without its newline");
    gc_plan_cache_close(&c);
}

static void test_concurrent(const char *dir)
{
    char path[512], why[300];
    snprintf(path, sizeof path, "%s/shared.tsv", dir);
    enum { PROCS = 8, EACH = 200 };
    for (int p = 0; p < PROCS; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            gc_plan_cache c;
            int bad = gc_plan_cache_open(&c, path, why, sizeof why) != 0;
            for (int i = 0; i < EACH; i++) {
                char key[128], tag[64];
                snprintf(key, sizeof key, "device|rank%d|layer%d|%s", p, i,
                         "padding-to-make-lines-longer-than-a-few-bytes");
                snprintf(tag, sizeof tag, "eng%d_k%d=%d", p, i, p * i);
                bad |= gc_plan_cache_add(&c, key, tag, why, sizeof why) != 0;
            }
            gc_plan_cache_close(&c);
            _exit(bad);
        }
    }
    int ok_children = 0;
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        wait(&status);
        ok_children += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    CHECK(ok_children == PROCS, "%d of %d writers succeeded", ok_children, PROCS);
    gc_plan_cache c;
    CHECK(gc_plan_cache_open(&c, path, why, sizeof why) == 0, "open: %s", why);
    CHECK(c.n == PROCS * EACH, "%d entries, want %d", c.n, PROCS * EACH);
    int wrong = 0;
    for (int p = 0; p < PROCS; p++)
        for (int i = 0; i < EACH; i++) {
            char key[128], tag[64];
            snprintf(key, sizeof key, "device|rank%d|layer%d|%s", p, i,
                     "padding-to-make-lines-longer-than-a-few-bytes");
            snprintf(tag, sizeof tag, "eng%d_k%d=%d", p, i, p * i);
            const char *t = gc_plan_cache_find(&c, key);
            wrong += !t || strcmp(t, tag) != 0;
        }
    CHECK(wrong == 0, "%d entries lost or mixed", wrong);
    gc_plan_cache_close(&c);
}

static void test_unwritable(const char *dir)
{
    char path[512], why[300];
    gc_plan_cache c;
    /* a folder that is a file: the cache cannot be read, so it is off, and says why */
    snprintf(path, sizeof path, "%s/a-file", dir);
    FILE *f = fopen(path, "w");
    fclose(f);
    snprintf(path, sizeof path, "%s/a-file/plans.tsv", dir);
    why[0] = 0;
    CHECK(gc_plan_cache_open(&c, path, why, sizeof why) != 0, "open under a file should fail");
    CHECK(c.path == NULL && strstr(why, "a-file/plans.tsv"), "off, naming the path: %s", why);
    printf("  unreadable: %s\n", why);
    gc_plan_cache_close(&c);
    /* the cache file is a folder: readable as empty, but an add fails and names it */
    snprintf(path, sizeof path, "%s/a-folder.tsv", dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    CHECK(system(cmd) == 0, "mkdir");
    why[0] = 0;
    if (gc_plan_cache_open(&c, path, why, sizeof why) == 0) {
        CHECK(gc_plan_cache_add(&c, "k", "eng1", why, sizeof why) != 0,
              "adding to a folder should fail");
        CHECK(strstr(why, "a-folder.tsv") != NULL, "the reason names the path: %s", why);
        printf("  unwritable: %s\n", why);
    } else {
        CHECK(strstr(why, "a-folder.tsv") != NULL, "the reason names the path: %s", why);
        printf("  unreadable: %s\n", why);
    }
    gc_plan_cache_close(&c);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", argv[1], argv[1]);
    if (system(cmd) != 0)
        return 2;
    test_path();
    test_round_trip(argv[1]);
    test_damaged(argv[1]);
    test_concurrent(argv[1]);
    test_unwritable(argv[1]);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
