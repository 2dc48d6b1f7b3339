/*
 * file_write.h — bytes to a file that readers see whole or not at all (file_write.c).
 */
#ifndef GC_FILE_WRITE_H
#define GC_FILE_WRITE_H

#include <stddef.h>

#include "gc_internal.h"

/* Writes len bytes as path, replacing what is there, so that no reader ever sees half a
 * file (a new name appears complete; an old file is replaced by rename). No fsync: atomic,
 * not durable. GC_OK, or GC_ERR_IO / GC_ERR_OUT_OF_MEMORY with "<path>: <cause>" in err. */
gc_status gc_write_file_atomically(const char *path, const void *bytes, size_t len, char *err,
                                   size_t err_len);

#endif /* GC_FILE_WRITE_H */
