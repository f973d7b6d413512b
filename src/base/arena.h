/*
 * arena.h - a bump allocator released in one call (h2o's request pool, simplified).
 *   Not here: per-object free (there is none by design).
 * Ownership: memory from arena_alloc() belongs to the arena and lives until arena_dispose().
 * Threads:   one arena per thread/request; no locking.
 * Errors:    arena_alloc() returns NULL when the allocation would pass the arena's byte cap or
 *   malloc fails; callers map that to "input too large" rather than aborting.
 * Lifetime:  arena_init(&a, cap) / arena_dispose(&a); a second dispose is a no-op.
 */
#ifndef MX_BASE_ARENA_H
#define MX_BASE_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk_t;

typedef struct {
    arena_chunk_t *head; /* newest chunk first */
    size_t used;         /* bytes handed out plus chunk overhead */
    size_t cap;          /* hard cap in bytes */
} arena_t;

void arena_init(arena_t *a, size_t cap);
void arena_dispose(arena_t *a);
/* Zeroed, max_align_t-aligned memory, or NULL. */
void *arena_alloc(arena_t *a, size_t n);
/* A NUL-terminated copy of n bytes, or NULL. */
char *arena_strndup(arena_t *a, const char *s, size_t n);

#endif
