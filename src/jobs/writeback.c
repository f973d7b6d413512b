/*
 * writeback.c - the write-back buffer (writeback.h).
 *
 * Records are deep copies kept in an array (the buffer is bounded, so a linear search for the
 * coalescing key stays cheap: capacity 10 000 compares at most). A flush detaches a batch into
 * `inflight`, writes it with the store's one-transaction write_batch and only then frees it.
 */
#include "jobs/writeback.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "ops/log.h"

typedef struct {
    wb_record_t r;        /* pointers into owned copies below */
    store_preset_summary_t presets[3];
    char *strs[6];        /* owned strings */
    unsigned char *blob;  /* owned blob (snapshot json or view body) */
    int attempts;
} rec_t;

struct writeback {
    store_t *store;
    wb_opts_t o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rec_t **recs;
    size_t n;
    size_t inflight;      /* records detached by a flush that has not committed yet */
    bool draining, stop, started;
    pthread_t thread;
    wb_stats_t st;
    mfam_t *events, *pending_g, *capacity_g, *flush_h;
};

static void rec_free(rec_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < 6; i++)
        free(r->strs[i]);
    free(r->blob);
    free(r);
}

static const char *dup_into(rec_t *r, size_t slot, const char *s)
{
    if (!s)
        return NULL;
    r->strs[slot] = strdup(s);
    return r->strs[slot];
}

static rec_t *rec_copy(const wb_record_t *in)
{
    rec_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->r = *in;
    r->r.ocid = dup_into(r, 0, in->ocid);
    r->r.content_sha256 = dup_into(r, 1, in->content_sha256);
    r->r.user_ign = dup_into(r, 2, in->user_ign);
    r->r.logic_version = dup_into(r, 3, in->logic_version);
    r->r.lookup_checksum = dup_into(r, 4, in->lookup_checksum);
    r->r.job_id = dup_into(r, 5, in->job_id);
    const unsigned char *src = in->kind == WB_SNAPSHOT ? in->json_gzip : in->body_gzip;
    size_t len = in->kind == WB_SNAPSHOT ? in->json_gzip_len : in->body_gzip_len;
    r->blob = malloc(len ? len : 1);
    if (!r->blob || !r->r.ocid) {
        rec_free(r);
        return NULL;
    }
    if (len)
        memcpy(r->blob, src, len);
    if (in->kind == WB_SNAPSHOT)
        r->r.json_gzip = r->blob;
    else
        r->r.body_gzip = r->blob;
    size_t np = in->presets ? (in->preset_count > 3 ? 3 : in->preset_count) : 0;
    if (np)
        memcpy(r->presets, in->presets, np * sizeof *r->presets);
    r->r.presets = r->presets;
    r->r.preset_count = np;
    return r;
}

static void count(writeback_t *w, const char *event, uint64_t *field, uint64_t n)
{
    *field += n;
    mfam_add(w->events, MX_LV(event), (double)n);
}

static void publish_pending(writeback_t *w)
{
    w->st.pending = w->n + w->inflight;
    mfam_set(w->pending_g, NULL, (double)w->st.pending);
}

writeback_t *writeback_new(store_t *store, const wb_opts_t *o, metrics_t *m)
{
    writeback_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->store = store;
    w->o = *o;
    w->recs = calloc(o->capacity, sizeof *w->recs);
    if (!w->recs) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (m) {
        w->events = metrics_counter(m, "expectation_buffer_records_total", "Write-back buffer record events (2.3.7 accounting).", "event");
        w->pending_g = metrics_gauge(m, "expectation_buffer_pending", "Records in the write-back buffer (incl. in-flight batch).", "");
        w->capacity_g = metrics_gauge(m, "expectation_buffer_capacity", "Capacity of the write-back buffer.", "");
        w->flush_h = metrics_histogram(m, "expectation_buffer_flush_seconds", "Duration of write-back flush transactions.", "",
                                       METRICS_SECONDS_BUCKETS, 12);
        static const char *const ev[] = {"accepted", "superseded", "flushed", "sync_written", "dropped", "retried"};
        for (size_t i = 0; i < 6; i++)
            mfam_add(w->events, MX_LV(ev[i]), 0);
        mfam_set(w->capacity_g, NULL, (double)o->capacity);
        mfam_set(w->pending_g, NULL, 0);
    }
    return w;
}

static bool same_key(const wb_record_t *a, const wb_record_t *b)
{
    return a->kind == b->kind && !strcmp(a->ocid, b->ocid);
}

static bool write_one_sync(writeback_t *w, const wb_record_t *rec)
{
    return w->store->ops->write_batch(w->store, rec, 1, clock_wall_ms()) == STORE_OK;
}

/* Counts `accepted` together with its outcome, so the identity of writeback.h holds at every
 * instant (a synchronous write runs outside the lock and is counted when it ends). */
wb_offer_t writeback_offer(writeback_t *w, const wb_record_t *rec)
{
    pthread_mutex_lock(&w->mu);
    if (!w->draining) {
        for (size_t i = 0; i < w->n; i++) {
            if (!same_key(&w->recs[i]->r, rec))
                continue;
            rec_t *copy = rec_copy(rec);
            if (!copy)
                break;
            rec_free(w->recs[i]);
            w->recs[i] = copy;
            count(w, "accepted", &w->st.accepted, 1);
            count(w, "superseded", &w->st.superseded, 1);
            pthread_mutex_unlock(&w->mu);
            return WB_BUFFERED;
        }
    }
    rec_t *copy = (!w->draining && w->n + w->inflight < w->o.capacity) ? rec_copy(rec) : NULL;
    if (copy) {
        w->recs[w->n++] = copy;
        count(w, "accepted", &w->st.accepted, 1);
        publish_pending(w);
        pthread_mutex_unlock(&w->mu);
        return WB_BUFFERED;
    }
    pthread_mutex_unlock(&w->mu);
    /* Full or draining: the caller writes it (2.3.7), outside the buffer's lock. */
    bool ok = write_one_sync(w, rec);
    pthread_mutex_lock(&w->mu);
    count(w, "accepted", &w->st.accepted, 1);
    if (ok)
        count(w, "sync_written", &w->st.sync_written, 1);
    else
        count(w, "dropped", &w->st.dropped, 1);
    pthread_mutex_unlock(&w->mu);
    if (!ok)
        log_emit(LOG_WARN, "writeback", "offer", NULL, NULL, "write-back record dropped: buffer full and synchronous write failed");
    return ok ? WB_WRITTEN_SYNC : WB_DROPPED;
}

/* Detach up to max records (oldest first) into out. Caller holds the lock. */
static size_t detach(writeback_t *w, rec_t **out, size_t max)
{
    size_t k = w->n < max ? w->n : max;
    memcpy(out, w->recs, k * sizeof *out);
    memmove(w->recs, w->recs + k, (w->n - k) * sizeof *w->recs);
    w->n -= k;
    w->inflight += k;
    return k;
}

/* Put a failed record back unless a newer one for its key arrived meanwhile. */
static void requeue_or_drop(writeback_t *w, rec_t *r)
{
    for (size_t i = 0; i < w->n; i++)
        if (same_key(&w->recs[i]->r, &r->r)) {
            count(w, "superseded", &w->st.superseded, 1);
            rec_free(r);
            return;
        }
    if (r->attempts >= w->o.max_attempts || w->n >= w->o.capacity) {
        count(w, "dropped", &w->st.dropped, 1);
        log_emit(LOG_WARN, "writeback", "flush", NULL, NULL, "write-back record dropped after %d attempts", r->attempts);
        rec_free(r);
        return;
    }
    count(w, "retried", &w->st.retried, 1);
    w->recs[w->n++] = r;
}

/* One batch: returns records written, or -1 if anything failed. */
/* Returns the records written, 0 when nothing was buffered, or -1 if any record failed (or no
 * memory for the batch: the records then stay buffered). */
static int flush_batch(writeback_t *w, size_t max)
{
    rec_t **batch = malloc(max * sizeof *batch);
    wb_record_t *recs = malloc(max * sizeof *recs);
    if (!batch || !recs) {
        free(batch);
        free(recs);
        return -1;
    }
    pthread_mutex_lock(&w->mu);
    size_t k = detach(w, batch, max);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < k; i++)
        recs[i] = batch[i]->r;
    int64_t t0 = clock_mono_us();
    bool all_ok = k == 0 || w->store->ops->write_batch(w->store, recs, k, clock_wall_ms()) == STORE_OK;
    if (k)
        mfam_observe(w->flush_h, NULL, (double)(clock_mono_us() - t0) / 1e6);
    int written = 0;
    for (size_t i = 0; i < k; i++) {
        bool ok = all_ok || write_one_sync(w, &batch[i]->r); /* 2.3.7: a failed batch is retried one by one */
        pthread_mutex_lock(&w->mu);
        w->inflight--;
        if (ok) {
            count(w, "flushed", &w->st.flushed, 1);
            rec_free(batch[i]);
            written++;
        } else {
            batch[i]->attempts++;
            requeue_or_drop(w, batch[i]);
        }
        publish_pending(w);
        pthread_mutex_unlock(&w->mu);
    }
    free(batch);
    free(recs);
    return written == (int)k ? written : -1;
}

int writeback_flush_all(writeback_t *w)
{
    int total = 0;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        size_t n = w->n;
        pthread_mutex_unlock(&w->mu);
        if (n == 0)
            return total;
        int r = flush_batch(w, w->o.batch);
        if (r < 0)
            return -1;
        total += r;
    }
}

static void *flusher(void *arg)
{
    writeback_t *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts = clock_after_ms(CLOCK_REALTIME, w->o.flush_ms);
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (w->stop)
            break;
        pthread_mutex_unlock(&w->mu);
        while (flush_batch(w, w->o.batch) > 0) /* back-to-back while there is work */
            ;
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

void writeback_start(writeback_t *w)
{
    if (!w->started && pthread_create(&w->thread, NULL, flusher, w) == 0)
        w->started = true;
}

static void stop_thread(writeback_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started) {
        pthread_join(w->thread, NULL);
        w->started = false;
    }
}

size_t writeback_drain(writeback_t *w, int64_t budget_ms)
{
    pthread_mutex_lock(&w->mu);
    w->draining = true;
    pthread_mutex_unlock(&w->mu);
    stop_thread(w);
    int64_t end = clock_mono_ms() + budget_ms;
    int empty = 0;
    while (empty < 3 && clock_mono_ms() < end) {
        int r = flush_batch(w, w->o.shutdown_batch);
        if (r < 0) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL); /* the store failed: give it a moment within the budget */
            continue;
        }
        if (r == 0) {
            empty++;
            if (empty < 3) {
                struct timespec ts = {0, 100 * 1000000L};
                nanosleep(&ts, NULL); /* the spec's "3 empty drains 100 ms apart" */
            }
        } else {
            empty = 0;
        }
    }
    pthread_mutex_lock(&w->mu);
    size_t left = w->n + w->inflight;
    pthread_mutex_unlock(&w->mu);
    return left;
}

wb_stats_t writeback_stats(writeback_t *w)
{
    pthread_mutex_lock(&w->mu);
    publish_pending(w);
    wb_stats_t s = w->st;
    pthread_mutex_unlock(&w->mu);
    return s;
}

void writeback_free(writeback_t *w)
{
    if (!w)
        return;
    stop_thread(w);
    for (size_t i = 0; i < w->n; i++)
        rec_free(w->recs[i]);
    free(w->recs);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
