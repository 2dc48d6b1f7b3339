/*
 * file_write.c — a file written whole before anyone sees its name.
 *
 * The bytes go into a nameless file in the target's folder (O_TMPFILE), which linkat then
 * names. The folder is locked once, for the link; a named temporary file renamed over the
 * target locks it twice, and the first time with the new inode's allocation inside the lock:
 * with many writers into one folder (the command's encoders) the others wait there, spinning
 * (perf on ext4, 16 writers: a third of the samples in rwsem_spin_on_owner under create and
 * rename; none with O_TMPFILE). A kill while a new file is written leaves no temporary file
 * either (one replacing a file may: it goes through a temporary name, below).
 *
 * linkat refuses a name that exists (EEXIST): then the nameless file is linked under a
 * temporary name and renamed over the target, so a replaced file is still atomic. Where
 * O_TMPFILE is not there (NFS, some FUSE filesystems, kernels before 3.11) or linking it
 * fails otherwise: a named temporary file and rename, as before. GC_ATOMIC_WRITE=rename takes
 * that path always (the tests cover both; a filesystem whose O_TMPFILE misbehaves).
 *
 * The umask: kernels before 6.0 did not apply it to O_TMPFILE files on filesystems without
 * POSIX ACLs (fixed by "fs: add missing umask strip in vfs_tmpfile"), which left them 0666.
 * A nameless file whose mode comes out exactly 0666 where the umask removes bits of it is
 * set to 0666 & ~umask, what open(O_CREAT, 0666) gives; the umask is read then, from the
 * status file in /proc (umask(2) cannot read it without setting it, racing other threads),
 * and where it cannot be read the classic path runs. That branch runs only on such kernels:
 * the tests here (6.18) check the mode, not the branch. (A folder's default ACL that itself grants
 * 0666 would be narrowed by this to the umask's mode: the one case where the two paths give
 * different modes.)
 *
 * No fsync: atomic, not durable.
 */
#define _GNU_SOURCE /* O_TMPFILE, AT_EMPTY_PATH */
#include "file_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The process's umask now, from the status file ("Umask:\t0022", Linux 4.7+), or -1. The
 * thread's file first: the process's lacks the line once its main thread has exited. */
static int read_umask(void)
{
    FILE *f = fopen("/proc/thread-self/status", "re");
    if (!f)
        f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    int mask = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Umask:", 6) == 0) {
            char *end;
            const long v = strtol(line + 6, &end, 8);
            if (end != line + 6 && v >= 0 && v <= 0777)
                mask = (int)v;
            break;
        }
    fclose(f);
    return mask;
}

/* Whether nameless files are to be used: not with GC_ATOMIC_WRITE=rename (read once). */
static int nameless_allowed(void)
{
    static atomic_int cached = -1; /* -1: not read yet */
    int v = atomic_load(&cached);
    if (v < 0) {
        const char *e = getenv("GC_ATOMIC_WRITE");
        v = !(e && strcmp(e, "rename") == 0);
        atomic_store(&cached, v);
    }
    return v;
}

static atomic_ullong g_tmp_counter; /* makes temporary names unique across threads */

/* "<dir>/.gradcam-tmp.<pid>.<n>" for path into tmp (strlen(path) + 64 bytes): beside path,
 * hidden, and short whatever the file name's length (a name near NAME_MAX must not fail for
 * its temporary's). The command removes such names that killed runs left (src/cli/resume.c,
 * is_our_temp). */
static void temp_name(const char *path, char *tmp, size_t tmp_len)
{
    const char *slash = strrchr(path, '/');
    const int dir_len = slash ? (int)(slash - path + 1) : 0;
    snprintf(tmp, tmp_len, "%.*s.gradcam-tmp.%ld.%llu", dir_len, path, (long)getpid(),
             (unsigned long long)atomic_fetch_add(&g_tmp_counter, 1));
}

static gc_status write_all(int fd, const char *path, const void *bytes, size_t len, char *err,
                           size_t err_len)
{
    char ebuf[128];
    size_t done = 0;
    while (done < len) {
        ssize_t put = write(fd, (const char *)bytes + done, len - done);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return gc_fail_text(err, err_len, GC_ERR_IO, "%s: cannot write: %s", path,
                                gc_errno_text(put < 0 ? errno : EIO, ebuf, sizeof ebuf));
        done += (size_t)put;
    }
    return GC_OK;
}

/* close, whose delayed write errors (NFS, quotas) show here */
static gc_status close_checked(int fd, const char *path, char *err, size_t err_len)
{
    char ebuf[128];
    if (close(fd) != 0)
        return gc_fail_text(err, err_len, GC_ERR_IO, "%s: cannot write: %s", path,
                            gc_errno_text(errno, ebuf, sizeof ebuf));
    return GC_OK;
}

/* fd, written whole and named tmp, closed and renamed over path; on any failure tmp goes. */
static gc_status rename_over(int fd, const char *tmp, const char *path, char *err, size_t err_len)
{
    char ebuf[128];
    gc_status st = close_checked(fd, path, err, err_len);
    if (st == GC_OK && rename(tmp, path) != 0)
        st = gc_fail_text(err, err_len, GC_ERR_IO, "%s: cannot write (rename from %s): %s", path,
                          tmp, gc_errno_text(errno, ebuf, sizeof ebuf));
    if (st != GC_OK)
        unlink(tmp);
    return st;
}

/* The classic way: a named temporary file, renamed over path. */
static gc_status write_renamed(const char *path, const void *bytes, size_t len, char *tmp,
                               size_t tmp_len, char *err, size_t err_len)
{
    char ebuf[128];
    int fd = -1;
    /* O_EXCL: never write through a file or link someone else put there; another host's
     * process of the same pid on a shared folder: the next number */
    for (int attempt = 0; fd < 0 && attempt < 64; attempt++) {
        temp_name(path, tmp, tmp_len);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        return gc_fail_text(err, err_len, GC_ERR_IO, "%s: cannot write: %s", path,
                            gc_errno_text(errno, ebuf, sizeof ebuf));
    const gc_status st = write_all(fd, path, bytes, len, err, err_len);
    if (st != GC_OK) {
        close(fd);
        unlink(tmp);
        return st;
    }
    return rename_over(fd, tmp, path, err, err_len);
}

static int open_tmpfile(const char *dir)
{
    return open(dir, O_WRONLY | O_TMPFILE | O_CLOEXEC, 0666);
}

/* A nameless file in path's folder, open for writing, its mode as open(O_CREAT, 0666) would
 * give it, and its identity in *sb; -1 where there is none. A mode of exactly 0666 is what a
 * kernel that skipped the umask leaves (or a umask of 0, or a folder's default ACL granting
 * it): only then is the umask read, now (the caller may have changed it since the last
 * write), and applied; unreadable, the classic path. */
static int open_nameless(const char *path, struct stat *sb)
{
    const char *slash = strrchr(path, '/');
    int fd;
    if (!slash) {
        fd = open_tmpfile(".");
    } else if (slash == path) {
        fd = open_tmpfile("/");
    } else {
        const size_t n = (size_t)(slash - path);
        char *dir = malloc(n + 1);
        if (!dir)
            return -1;
        memcpy(dir, path, n);
        dir[n] = 0;
        fd = open_tmpfile(dir);
        free(dir);
    }
    if (fd < 0)
        return -1;
    int mask = 0;
    if (fstat(fd, sb) != 0 || ((sb->st_mode & 0777) == 0666 && (mask = read_umask()) != 0 &&
                               (mask < 0 || fchmod(fd, 0666 & ~(mode_t)mask) != 0))) {
        close(fd); /* the classic way, then */
        return -1;
    }
    return fd;
}

/* The nameless file fd gets the name `name`: 0, or -1 with errno (EEXIST: a file has it). By
 * /proc/self/fd (what linkat(2) suggests for unprivileged processes), else AT_EMPTY_PATH
 * (needs CAP_DAC_READ_SEARCH; for a system without /proc). */
static int link_nameless(int fd, const char *name)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno != ENOENT)
        return -1;
    return linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH);
}

gc_status gc_write_file_atomically(const char *path, const void *bytes, size_t len, char *err,
                                   size_t err_len)
{
    const size_t tmp_len = strlen(path) + 64;
    char *tmp = malloc(tmp_len);
    if (!tmp)
        return gc_fail_text(err, err_len, GC_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    struct stat sb;
    const int fd = nameless_allowed() ? open_nameless(path, &sb) : -1;
    gc_status st;
    if (fd < 0) { /* unsupported here, or a real error that the classic way reports */
        st = write_renamed(path, bytes, len, tmp, tmp_len, err, err_len);
    } else if ((st = write_all(fd, path, bytes, len, err, err_len)) != GC_OK) {
        close(fd); /* nameless: nothing to remove */
    } else if (link_nameless(fd, path) == 0) {
        st = close_checked(fd, path, err, err_len);
        struct stat now; /* (a writer may still replace it between lstat and unlink: a window
                            this narrow is left open) */
        if (st != GC_OK && lstat(path, &now) == 0 && now.st_dev == sb.st_dev &&
            now.st_ino == sb.st_ino)
            unlink(path);         /* still ours (not replaced meanwhile): the failed write goes */
    } else if (errno != EEXIST) { /* linking unsupported: written again, the classic way */
        close(fd);
        st = write_renamed(path, bytes, len, tmp, tmp_len, err, err_len);
    } else { /* path exists: replaced by rename, atomic as ever */
        int linked = -1;
        for (int attempt = 0; linked != 0 && attempt < 64; attempt++) {
            temp_name(path, tmp, tmp_len);
            linked = link_nameless(fd, tmp);
            if (linked != 0 && errno != EEXIST)
                break;
        }
        if (linked != 0) {
            close(fd);
            st = write_renamed(path, bytes, len, tmp, tmp_len, err, err_len);
        } else {
            st = rename_over(fd, tmp, path, err, err_len);
        }
    }
    free(tmp);
    return st;
}
