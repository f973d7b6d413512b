/*
 * gz.c - gzip inflate/deflate on top of zlib (windowBits 15 + 16 selects the gzip wrapper).
 *
 * Output grows through buf_t, so the caller's cap bounds a decompression bomb: inflating stops
 * with an error as soon as the buffer refuses to grow.
 */
#include "base/gz.h"

#include <stdint.h>
#include <string.h>
#include <zlib.h>

#define GZ_WINDOW_BITS (15 + 16) /* 32 KB window, gzip header and trailer */
#define GZ_CHUNK 65536           /* bytes produced per zlib call */

bool gz_is_gzip(const void *data, size_t len)
{
    const unsigned char *p = data;
    return len >= 2 && p[0] == 0x1F && p[1] == 0x8B;
}

int gz_inflate(const void *data, size_t len, buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, GZ_WINDOW_BITS) != Z_OK)
        return -1;
    int rc = -1;
    unsigned char chunk[GZ_CHUNK];
    zs.next_in = (unsigned char *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    if ((size_t)zs.avail_in != len)
        goto out; /* > 4 GB input: refuse rather than truncate */
    for (;;) {
        zs.next_out = chunk;
        zs.avail_out = sizeof chunk;
        int z = inflate(&zs, Z_NO_FLUSH);
        if (z != Z_OK && z != Z_STREAM_END)
            goto out;
        buf_append(out, chunk, sizeof chunk - zs.avail_out);
        if (!buf_ok(out))
            goto out;
        if (z == Z_STREAM_END)
            break;
        if (zs.avail_in == 0 && zs.avail_out != 0)
            goto out; /* truncated stream */
    }
    rc = 0;
out:
    inflateEnd(&zs);
    return rc;
}

int gz_deflate(const void *data, size_t len, int level, buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, level, Z_DEFLATED, GZ_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    int rc = -1;
    unsigned char chunk[GZ_CHUNK];
    zs.next_in = (unsigned char *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    if ((size_t)zs.avail_in != len)
        goto out;
    int z;
    do {
        zs.next_out = chunk;
        zs.avail_out = sizeof chunk;
        z = deflate(&zs, Z_FINISH);
        if (z == Z_STREAM_ERROR)
            goto out;
        buf_append(out, chunk, sizeof chunk - zs.avail_out);
        if (!buf_ok(out))
            goto out;
    } while (z != Z_STREAM_END);
    rc = 0;
out:
    deflateEnd(&zs);
    return rc;
}
