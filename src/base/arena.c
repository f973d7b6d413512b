/*
 * arena.c - bump allocator (see arena.h).
 *
 * Chunks of at least ARENA_CHUNK bytes are chained newest-first; a request larger than a chunk
 * gets a chunk of its own. Everything is released by walking the chain once. The byte cap makes
 * an arena fed by untrusted input fail softly instead of exhausting memory.
 */
#include "base/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK 16384 /* bytes; one parsed item needs well under 1 KB */

struct arena_chunk {
    arena_chunk_t *next;
    size_t size; /* usable bytes in data[] */
    size_t off;  /* bytes used */
    alignas(max_align_t) unsigned char data[];
};

void arena_init(arena_t *a, size_t cap)
{
    a->head = NULL;
    a->used = 0;
    a->cap = cap;
}

void arena_dispose(arena_t *a)
{
    arena_chunk_t *c = a->head;
    while (c) {
        arena_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

void *arena_alloc(arena_t *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - align)
        return NULL;
    n = (n + align - 1) & ~(align - 1);
    arena_chunk_t *c = a->head;
    if (!c || c->size - c->off < n) {
        size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        if (a->used + size + sizeof *c > a->cap)
            return NULL;
        c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->next = a->head;
        c->size = size;
        c->off = 0;
        a->head = c;
        a->used += size + sizeof *c;
    }
    void *p = c->data + c->off;
    c->off += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
