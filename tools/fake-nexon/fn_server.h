/*
 * fn_server.h - the fake Nexon Open API over libevent's evhttp: the four GET endpoints of
 *   platform spec 1.12 plus the /admin API of the test harness (call counters, injected faults,
 *   user keys). README.md next to this file is the user's documentation.
 *   Not here: who the characters are (fn_chars.h), generated payloads (fn_gen.h), the command
 *   line (main.c).
 * Ownership: the server borrows the event base, the registry and the generator (all must
 *   outlive it) and owns everything else (evhttp, body cache, counters, faults, users, delayed
 *   requests). fn_server_free() releases it; afterwards the caller frees the event base, which
 *   also releases response bodies libevent still held.
 * Threads:   single-threaded: every call and every callback runs on the event base's thread.
 * Errors:    fn_server_new()/fn_server_listen() return NULL/-1 with a message in err (bind
 *   failure, out of memory). At run time nothing is fatal: bad requests get 4xx answers, an
 *   allocation failure gets a 500.
 */
#ifndef FN_SERVER_H
#define FN_SERVER_H

#include <stddef.h>

#include <event2/event.h>

#include "fn_chars.h"
#include "fn_gen.h"

#define FN_CACHE_ENTRIES 128       /* generated or read bodies kept (LRU) */
#define FN_MAX_COUNTER_KEYS 200000 /* distinct "<path> <ocid-or-ign>" counters kept */
#define FN_MAX_USERS 10000
#define FN_MAX_ACCOUNTS 100        /* per user key */
#define FN_MAX_ACCOUNT_CHARS 1000  /* per account */
#define FN_MAX_LATENCY_MS 600000

typedef struct fn_server fn_server_t;

fn_server_t *fn_server_new(struct event_base *base, fn_registry_t *reg, const fn_gen_t *gen, const char *api_key,
                           char *err, size_t errlen);
/* Listen on host:port (port 0: any free port). Returns the bound port, or -1. */
int fn_server_listen(fn_server_t *s, const char *host, int port, char *err, size_t errlen);
/* Close every connection, drop delayed requests and free the server (NULL-safe). */
void fn_server_free(fn_server_t *s);

#endif
