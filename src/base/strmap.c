/*
 * strmap.c - intrusive string-keyed chained hash map (strmap.h).
 */
#include "base/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

static uint64_t key_hash(const char *key) { return fnv1a64_update(FNV1A64_INIT, key, strlen(key)); }

bool strmap_init(strmap_t *m, size_t initial_buckets)
{
    m->nbuckets = initial_buckets;
    m->count = 0;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    return m->buckets != NULL;
}

strmap_node_t *strmap_find(const strmap_t *m, const char *key)
{
    uint64_t h = key_hash(key);
    for (strmap_node_t *n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->next)
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

static void grow(strmap_t *m)
{
    size_t nb = m->nbuckets * 2;
    strmap_node_t **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (strmap_node_t *n = m->buckets[i], *next; n; n = next) {
            next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

void strmap_insert(strmap_t *m, strmap_node_t *n)
{
    if (m->count >= m->nbuckets)
        grow(m);
    n->hash = key_hash(n->key);
    size_t b = n->hash & (m->nbuckets - 1);
    n->next = m->buckets[b];
    m->buckets[b] = n;
    m->count++;
}

void strmap_remove(strmap_t *m, strmap_node_t *n)
{
    strmap_node_t **link = &m->buckets[n->hash & (m->nbuckets - 1)];
    while (*link != n)
        link = &(*link)->next;
    *link = n->next;
    m->count--;
}

void strmap_clear(strmap_t *m, void (*free_node)(strmap_node_t *))
{
    for (size_t i = 0; m->buckets && i < m->nbuckets; i++) {
        for (strmap_node_t *n = m->buckets[i], *next; n; n = next) {
            next = n->next;
            if (free_node)
                free_node(n);
        }
        m->buckets[i] = NULL;
    }
    m->count = 0;
}

void strmap_dispose(strmap_t *m, void (*free_node)(strmap_node_t *))
{
    strmap_clear(m, free_node);
    free(m->buckets);
    m->buckets = NULL;
    m->nbuckets = 0;
}
