#ifndef SENDENSE_FSXFS_SHIM_H
#define SENDENSE_FSXFS_SHIM_H
// libfsxfs (XFS in user space) reading through a libbfio handle whose
// reads call back into Swift, so it reads the restore point's chain in place.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <libbfio.h>
#include <libfsxfs.h>

/// Reads `size` bytes at `offset` into `buffer`; answers the count or -1.
typedef long (*sendense_read_at)(void *context, uint8_t *buffer, size_t size, uint64_t offset);

typedef struct {
    void *context;
    sendense_read_at read_at;
    uint64_t size;
    uint64_t offset;
    int open;
} sendense_bfio_source;

static int sendense_bfio_free(intptr_t **io, libbfio_error_t **error) {
    (void)error;
    if (io != NULL && *io != NULL) { free(*io); *io = NULL; }
    return 1;
}

static int sendense_bfio_clone(intptr_t **destination, intptr_t *source, libbfio_error_t **error) {
    (void)error;
    if (destination == NULL) return -1;
    if (source == NULL) { *destination = NULL; return 1; }
    sendense_bfio_source *copy = malloc(sizeof *copy);
    if (copy == NULL) return -1;
    memcpy(copy, source, sizeof *copy);
    copy->offset = 0;
    *destination = (intptr_t *)copy;
    return 1;
}

static int sendense_bfio_open(intptr_t *io, int flags, libbfio_error_t **error) {
    (void)error;
    if (flags & LIBBFIO_ACCESS_FLAG_WRITE) return -1;   // read-only by construction
    ((sendense_bfio_source *)io)->open = 1;
    return 1;
}

static int sendense_bfio_close(intptr_t *io, libbfio_error_t **error) {
    (void)error;
    ((sendense_bfio_source *)io)->open = 0;
    return 0;
}

static ssize_t sendense_bfio_read(intptr_t *io, uint8_t *buffer, size_t size, libbfio_error_t **error) {
    (void)error;
    sendense_bfio_source *source = (sendense_bfio_source *)io;
    if (source->offset >= source->size) return 0;
    uint64_t left = source->size - source->offset;
    size_t count = size < left ? size : (size_t)left;
    long n = source->read_at(source->context, buffer, count, source->offset);
    if (n < 0) return -1;
    source->offset += (uint64_t)n;
    return (ssize_t)n;
}

static ssize_t sendense_bfio_write(intptr_t *io, const uint8_t *buffer, size_t size, libbfio_error_t **error) {
    (void)io; (void)buffer; (void)size; (void)error;
    return -1;
}

static off64_t sendense_bfio_seek(intptr_t *io, off64_t offset, int whence, libbfio_error_t **error) {
    (void)error;
    sendense_bfio_source *source = (sendense_bfio_source *)io;
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)source->offset : (int64_t)source->size;
    int64_t target = base + offset;
    if (target < 0) return -1;
    source->offset = (uint64_t)target;
    return (off64_t)target;
}

static int sendense_bfio_exists(intptr_t *io, libbfio_error_t **error) { (void)io; (void)error; return 1; }

static int sendense_bfio_is_open(intptr_t *io, libbfio_error_t **error) {
    (void)error;
    return ((sendense_bfio_source *)io)->open;
}

static int sendense_bfio_get_size(intptr_t *io, size64_t *size, libbfio_error_t **error) {
    (void)error;
    *size = ((sendense_bfio_source *)io)->size;
    return 1;
}

/// A libbfio handle over `read_at(context, …)` of a source of `size` bytes; 1 or -1.
static inline int sendense_bfio_handle(libbfio_handle_t **handle, void *context, sendense_read_at read_at, uint64_t size) {
    sendense_bfio_source *source = calloc(1, sizeof *source);
    if (source == NULL) return -1;
    source->context = context;
    source->read_at = read_at;
    source->size = size;
    int status = libbfio_handle_initialize(
        handle, (intptr_t *)source, sendense_bfio_free, sendense_bfio_clone, sendense_bfio_open, sendense_bfio_close,
        sendense_bfio_read, sendense_bfio_write, sendense_bfio_seek, sendense_bfio_exists, sendense_bfio_is_open,
        sendense_bfio_get_size, LIBBFIO_FLAG_IO_HANDLE_MANAGED | LIBBFIO_FLAG_IO_HANDLE_CLONE_BY_FUNCTION, NULL);
    if (status != 1) free(source);
    return status;
}

/// libfsxfs's message for `error` (then freed), in `text` of `size` bytes.
static inline void sendense_fsxfs_message(libfsxfs_error_t **error, char *text, size_t size) {
    text[0] = 0;
    if (error == NULL || *error == NULL) return;
    libfsxfs_error_sprint(*error, text, size);
    libfsxfs_error_free(error);
}
#endif
