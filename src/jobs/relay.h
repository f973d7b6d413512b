/*
 * relay.h - J03, the donation outbox relay (SC-18, 2.3.8): claim -> work outside any transaction ->
 * finalize with the claim-token guard.
 *
 * One batch (relay_run_batch):
 *  1. store outbox_claim(OUTBOX_DONATION, instance_id, relay_batch): one short transaction that
 *     commits before any side effect (H09: no transaction or connection is held across the call).
 *  2. For each claimed row, in id order, outside any transaction:
 *     - integrity: content_hash must equal sha256_hex(request_id "|" event_type "|" payload);
 *       a mismatch dead-letters the row at once (outbox_fail immediate, reason
 *       "integrity: content hash mismatch"), no delivery;
 *     - delivery: when a webhook URL is configured, POST the payload verbatim with
 *       Content-Type: application/json and Idempotency-Key: <request_id> (connect / total
 *       timeouts from the config; 2xx = success, anything else or a transport error = failure;
 *       no redirects; http and https only); then, on success, the structured log event
 *       `donation.completed` (fields requestId, eventType, payload; correlation id =
 *       origin_request_id);
 *     - finalize: outbox_complete (OUTBOX_FINAL_CLAIM_LOST -> outbox_claim_lost_total + 1, the
 *       row is someone else's now: nothing more is done) or outbox_fail with the configured
 *       backoff (OUTBOX_FINAL_DEAD -> WARN log + dlq_safety_net_total{tier="db"}).
 *     A failed delivery never creates a row (H10): retries are the same row, claimed again later.
 *     A finalize the store could not do (STORE_UNAVAILABLE) leaves the row PROCESSING; J05
 *     reclaims it after the stale period and it is delivered again (at-least-once; the sink
 *     de-duplicates by Idempotency-Key).
 *  3. Once stopping (relay_stop_claiming, or the scheduler run's job_should_stop), the row being
 *     delivered is finished and every claimed row not started yet goes back to PENDING at once
 *     (outbox_release: no attempt charged; spec 3.5 phases 3 and 5).
 * relay_job (the scheduler job, every instance, no lease) claims again at once while batches come
 * back full (drain pace) and stops at a partial batch.
 *
 * Metrics (outbox="donation", queue="donation"): outbox_transitions_total{outbox,to} with to =
 * processing, completed, failed, dead_letter, released (returned to PENDING at shutdown);
 * outbox_claim_lost_total{outbox}; outbox_relay_batch_seconds{outbox} (batches that claimed rows);
 * dlq_safety_net_total{queue,tier="db"}.
 * Never logged: the webhook URL (G9); transport errors are logged by libcurl's generic message.
 *
 * State: per instance; the rows live in the store. Requires curl_global_init by the process.
 * Thread-safety: every function is thread-safe (the scheduler never runs relay_job twice at once;
 * concurrent relay_run_batch calls claim disjoint rows).
 */
#ifndef MX_JOBS_RELAY_H
#define MX_JOBS_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "jobs/scheduler.h"
#include "ops/metrics.h"
#include "store/store.h"

#define RELAY_JOB_NAME "donation_relay"
#define RELAY_INTEGRITY_REASON "integrity: content hash mismatch"

typedef struct {
    uint64_t claimed;       /* rows claimed */
    uint64_t completed;     /* delivered and finalized COMPLETED */
    uint64_t failed;        /* attempts that failed and left the row FAILED (retry later) */
    uint64_t dead_lettered; /* rows moved to DEAD_LETTER by this relay (incl. integrity) */
    uint64_t claim_lost;    /* finalizes refused by the claim token */
    uint64_t released;      /* claimed rows returned to PENDING unstarted */
    uint64_t store_errors;  /* finalize/release calls the store could not do */
} relay_stats_t;

typedef struct relay relay_t;

/* Reads relay_batch, backoff_base_s, backoff_max_s, webhook_url (copied), webhook_*_timeout_ms and
 * relay_period_ms from cfg (NULL = defaults). instance_id is copied (the claim owner). */
relay_t *relay_new(store_t *store, metrics_t *m, const char *instance_id, const jobs_config_t *cfg);
/* One claim and the work on every claimed row (see above). Returns the number of rows claimed, or
 * -1 when the claim failed (store unavailable; logged). */
int relay_run_batch(relay_t *r);
/* The scheduler job: ctx->arg is the relay_t. Back-to-back batches while full. */
job_result_t relay_job(job_ctx_t *ctx);
/* Registers relay_job as RELAY_JOB_NAME (no lease, period relay_period_ms, first tick at start). */
bool relay_register(relay_t *r, scheduler_t *s);
/* Phase 1: no new claim; the current row finishes, the rest of the batch is released. Idempotent. */
void relay_stop_claiming(relay_t *r);
relay_stats_t relay_stats(relay_t *r);
void relay_free(relay_t *r);

#endif
