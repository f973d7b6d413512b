/*
 * upstream_relay.c - J04 (upstream_relay.h).
 */
#include "app/upstream_relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "ops/log.h"

struct upstream_relay {
    app_t *a;
    upstream_relay_opts_t o;
    int64_t half_open_since_ms; /* monotonic; 0 = not half-open at the last look (scheduler thread only) */
    mfam_t *m_transitions, *m_claim_lost;
};

upstream_relay_t *upstream_relay_new(app_t *a, const upstream_relay_opts_t *o)
{
    upstream_relay_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->a = a;
    r->o = *o;
    r->m_transitions = metrics_counter(a->metrics, "outbox_transitions_total", "Outbox row transitions.", "outbox,to");
    r->m_claim_lost = metrics_counter(a->metrics, "outbox_claim_lost_total", "Finalizes refused by the claim token.",
                                      "outbox");
    return r;
}

void upstream_relay_free(upstream_relay_t *r) { free(r); }

static void count(upstream_relay_t *r, const char *to) { mfam_add(r->m_transitions, MX_LV("upstream", to), 1); }

static void finalize(upstream_relay_t *r, const store_outbox_row_t *row, up_rc_t rc)
{
    store_t *s = r->a->store;
    int64_t now = clock_wall_ms();
    outbox_final_t result = OUTBOX_FINAL_CLAIM_LOST;
    if (rc == UP_OK || rc == UP_NOT_FOUND) {
        s->ops->outbox_complete(s, OUTBOX_UPSTREAM, row->id, row->claim_token, now, &result);
        if (result == OUTBOX_FINAL_OK) {
            s->ops->outbox_set_outcome(s, row->id, rc == UP_OK ? "ok" : "not_found");
            count(r, "completed");
        }
    } else if (rc == UP_BREAKER_OPEN || rc == UP_OVERLOAD) {
        /* Short-circuited: not an attempt; back in the queue for the next poll (2.3.8). */
        if (s->ops->outbox_release(s, OUTBOX_UPSTREAM, row->id, row->claim_token, now + r->o.period_ms) == STORE_OK)
            result = OUTBOX_FINAL_OK;
        count(r, "released");
    } else {
        s->ops->outbox_fail(s, OUTBOX_UPSTREAM, row->id, row->claim_token, up_rc_name(rc), false, r->o.backoff_base_s,
                            r->o.backoff_max_s, now, &result);
        count(r, result == OUTBOX_FINAL_DEAD ? "dead_letter" : "failed");
    }
    if (result == OUTBOX_FINAL_CLAIM_LOST)
        mfam_add(r->m_claim_lost, MX_LV("upstream"), 1);
}

static void process(upstream_relay_t *r, const store_outbox_row_t *row, bool probe)
{
    if (!store_outbox_row_intact(row)) {
        outbox_final_t result;
        store_t *s = r->a->store;
        s->ops->outbox_fail(s, OUTBOX_UPSTREAM, row->id, row->claim_token, "integrity: content hash mismatch", true, 0,
                            0, clock_wall_ms(), &result);
        count(r, "dead_letter");
        return;
    }
    int64_t deadline = clock_mono_ms() + r->a->cfg->upstream_total_timeout_ms;
    up_rc_t rc = app_refetch(r->a, row->event_type, row->payload, deadline);
    if (probe && rc != UP_OK && rc != UP_NOT_FOUND)
        rc = UP_BREAKER_OPEN; /* M14: a failed probe is not charged to the row: it goes back unchanged */
    finalize(r, row, rc);
    log_emit(LOG_INFO, "upstream", "relay", row->origin_request_id[0] ? row->origin_request_id : NULL, NULL,
             "replayed %s: %s", row->event_type, up_rc_name(rc));
}

/* M14: one row as the probe of a breaker left half-open without traffic. */
static int probe_one(upstream_relay_t *r)
{
    store_t *s = r->a->store;
    store_outbox_row_t *rows = NULL;
    size_t n = 0;
    if (s->ops->outbox_claim(s, OUTBOX_UPSTREAM, r->a->instance_id, 1, clock_wall_ms(), &rows, &n) != STORE_OK)
        return -1;
    for (size_t i = 0; i < n; i++)
        process(r, &rows[i], true);
    store_outbox_rows_free(rows, n);
    return (int)n;
}

/* Should this pass run? Closed: yes. Half-open for probe_after_ms: one probe row. Else: no. */
static bool breaker_lets_relay(upstream_relay_t *r, int *probed)
{
    breaker_state_t st = breaker_state(nexon_breaker(r->a->nexon));
    int64_t now = clock_mono_ms();
    *probed = 0;
    if (st != BREAKER_HALF_OPEN)
        r->half_open_since_ms = 0;
    if (st == BREAKER_CLOSED)
        return true;
    if (st == BREAKER_HALF_OPEN) {
        if (!r->half_open_since_ms)
            r->half_open_since_ms = now;
        else if (now - r->half_open_since_ms >= r->o.probe_after_ms) {
            *probed = probe_one(r);
            r->half_open_since_ms = now; /* the next relay probe waits again */
        }
    }
    return false;
}

int upstream_relay_run(upstream_relay_t *r, const job_ctx_t *ctx)
{
    store_t *s = r->a->store;
    int done = 0, probed = 0;
    for (;;) {
        /* Claims only while the breaker is closed: never as a half-open probe (SC-19), except M14. */
        if (ctx && job_should_stop(ctx))
            return done;
        if (!breaker_lets_relay(r, &probed))
            return done + (probed > 0 ? probed : 0);
        store_outbox_row_t *rows = NULL;
        size_t n = 0;
        if (s->ops->outbox_claim(s, OUTBOX_UPSTREAM, r->a->instance_id, r->o.batch, clock_wall_ms(), &rows, &n) !=
            STORE_OK)
            return done ? done : -1;
        for (size_t i = 0; i < n; i++) {
            if (ctx && job_should_stop(ctx)) { /* shutdown: the rest goes back unstarted */
                s->ops->outbox_release(s, OUTBOX_UPSTREAM, rows[i].id, rows[i].claim_token, clock_wall_ms());
                continue;
            }
            process(r, &rows[i], false);
            done++;
        }
        store_outbox_rows_free(rows, n);
        if (n < (size_t)r->o.batch)
            return done;
    }
}

static job_result_t relay_job_fn(job_ctx_t *ctx)
{
    int n = upstream_relay_run(ctx->arg, ctx);
    return (job_result_t){n > 0 ? n : 0, n >= 0};
}

bool upstream_relay_register(upstream_relay_t *r, scheduler_t *s)
{
    job_spec_t spec = {.name = UPSTREAM_RELAY_JOB, .period_ms = r->o.period_ms, .lease = NULL, .fn = relay_job_fn,
                       .arg = r};
    return scheduler_add(s, &spec);
}
