/*
 * upstream_relay.h - the upstream outbox relay (J04, SC-19, 2.3.8): replays server-key calls that
 * failed retryably, once the `nexonApi` breaker is closed again.
 *
 * Every instance runs it (row claims, no lease). It claims rows only while the breaker is closed
 * (never as a half-open probe), verifies each row's content hash, performs the call through
 * app_refetch (which never enqueues again: a failed replay updates its own row, H10), and
 * finalizes under the claim token: completed (the answer, or "not found", is stored where a
 * normal fetch would put it), released (short-circuited: not an attempt), or failed with the
 * outbox back-off and the dead-letter rule. Batches run back-to-back while they come back full.
 * M14: when the breaker has stayed half-open for probe_after_ms without closing (no user traffic to
 * probe it), the relay replays one row as the probe; a failed probe returns the row unchanged
 * (no retry_count charged).
 * State: none of its own beyond counters; the rows live in nexon_api_outbox.
 */
#ifndef MX_APP_UPSTREAM_RELAY_H
#define MX_APP_UPSTREAM_RELAY_H

#include "app/app.h"
#include "jobs/scheduler.h"

#define UPSTREAM_RELAY_JOB "upstream_relay"

typedef struct upstream_relay upstream_relay_t;

typedef struct {
    int period_ms;       /* UPSTREAM_OUTBOX_POLL_MS, 10000 */
    int batch;           /* OUTBOX_BATCH, 100 */
    int backoff_base_s;  /* OUTBOX_BACKOFF_BASE_S */
    int backoff_max_s;   /* OUTBOX_BACKOFF_MAX_S */
    int probe_after_ms;  /* M14: a half-open breaker nobody probed for this long gets a relay probe (30000) */
} upstream_relay_opts_t;

upstream_relay_t *upstream_relay_new(app_t *a, const upstream_relay_opts_t *o);
bool upstream_relay_register(upstream_relay_t *r, scheduler_t *s);
/* One pass (claim batches until a partial one); returns rows finalized, -1 if the claim failed. */
int upstream_relay_run(upstream_relay_t *r, const job_ctx_t *ctx);
void upstream_relay_free(upstream_relay_t *r);

#endif
