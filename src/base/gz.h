/*
 * gz.h - gzip framing over zlib: inflate a gzip member with an output cap, deflate to gzip.
 *   Used for upstream payloads (which may arrive gzipped), stored snapshots and gzip responses.
 * Ownership: output goes to a caller-owned buf_t.
 * Threads:   reentrant (zlib streams are local).
 * Errors:    0, or -1 for corrupt input, output past the buffer's cap, or allocation failure.
 */
#ifndef MX_BASE_GZ_H
#define MX_BASE_GZ_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* True when the bytes start with the gzip magic 1f 8b. */
bool gz_is_gzip(const void *data, size_t len);
int gz_inflate(const void *data, size_t len, buf_t *out);
/* level 1..9 (zlib levels). */
int gz_deflate(const void *data, size_t len, int level, buf_t *out);

#endif
