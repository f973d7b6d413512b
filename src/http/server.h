/*
 * server.h - the HTTP/1.1 service on libevent evhttp (platform spec section 1).
 *
 * Threading: one listening socket, W worker threads, each with its own event_base and evhttp
 * accepting on that socket (the kernel spreads connections). A request is handled on the
 * worker that read it. Work that blocks (database writes, upstream calls, computations) goes
 * to the app's compute pool and its result is posted back to the worker's loop
 * (http_worker_post), because evhttp objects may only be touched by their own loop thread.
 *
 * State: per instance (connections, in-flight counter); nothing cluster-relevant.
 * Errors: http_server_new returns NULL with a message (bind failure, bad CIDR list, ...).
 */
#ifndef MX_HTTP_SERVER_H
#define MX_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "app/app.h"

typedef struct http_server http_server_t;

/* Binds HTTP_HOST:HTTP_PORT (port 0 = any free port; see http_server_port). */
http_server_t *http_server_new(app_t *app, char *err, size_t errlen);
int http_server_port(const http_server_t *s);
/* Starts the worker threads. */
int http_server_start(http_server_t *s);
/* Shutdown phase 2: stop accepting; keep-alive connections get `Connection: close`. */
void http_server_close_listener(http_server_t *s);
/* Handler bodies queued or running on the `http` pool. */
size_t http_server_busy(http_server_t *s);
/* Requests accepted and not yet answered (all routes). */
size_t http_server_inflight(http_server_t *s);
/* Stops every loop and joins the threads (pending async requests are answered 503 first). */
void http_server_stop(http_server_t *s);
void http_server_free(http_server_t *s);

#endif
