/*
 * strmap.h - a small intrusive, string-keyed, chained hash map: the node lives inside the caller's
 * record (first member, so a node pointer converts back to the record), the map only links nodes.
 * Buckets double when the map holds as many nodes as buckets; a failed doubling only lengthens
 * chains. Ownership: the caller owns records and keys (strmap_dispose hands each node back).
 * Thread-safety: none; callers lock.
 */
#ifndef MX_BASE_STRMAP_H
#define MX_BASE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct strmap_node {
    struct strmap_node *next;
    uint64_t hash;
    const char *key;  /* set by the caller before strmap_insert; must outlive the node's membership */
} strmap_node_t;

typedef struct {
    strmap_node_t **buckets;
    size_t nbuckets;  /* power of two */
    size_t count;
} strmap_t;

/* initial_buckets: a power of two. false when out of memory. */
bool strmap_init(strmap_t *m, size_t initial_buckets);
strmap_node_t *strmap_find(const strmap_t *m, const char *key);
/* n->key set and not present yet. */
void strmap_insert(strmap_t *m, strmap_node_t *n);
void strmap_remove(strmap_t *m, strmap_node_t *n);
/* Hands every node to free_node (may be NULL) and empties the map; the buckets stay. */
void strmap_clear(strmap_t *m, void (*free_node)(strmap_node_t *));
/* strmap_clear, then frees the buckets. */
void strmap_dispose(strmap_t *m, void (*free_node)(strmap_node_t *));

#endif
