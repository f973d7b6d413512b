/*
 * writeback.h - the expectation write-back buffer (SC-17, 2.3.7): derived records (equipment
 * snapshots, V5 views with their preset summaries) waiting to be written to the store.
 *
 * State: per instance, in memory, bounded by `capacity` records. What it holds is derived data
 * (recomputable), never an acknowledged client write: kill -9 may lose it; a graceful shutdown
 * may not (writeback_drain).
 *
 * Contract:
 *  - offer copies the record. A record for the same key (kind + OCID) replaces the buffered one
 *    (accepted + superseded). Full or draining: the caller's thread writes it synchronously
 *    (sync_written) and if that fails it is dropped (counted, WARN log).
 *  - A flush moves <= batch records to an in-flight batch, writes them in one transaction and
 *    forgets them only after the commit (H01). A failed batch is retried record by record; a
 *    record that failed max_attempts times is dropped and counted.
 *  - Accounting identity, at every instant: accepted = flushed + superseded + sync_written +
 *    dropped + pending (pending includes the in-flight batch). Exported as
 *    expectation_buffer_records_total{event}, expectation_buffer_pending/_capacity.
 *  - Thread-safety: all functions are thread-safe. writeback_start runs a flush thread every
 *    flush_ms; writeback_drain stops it.
 */
#ifndef MX_JOBS_WRITEBACK_H
#define MX_JOBS_WRITEBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/metrics.h"
#include "store/store.h"

typedef struct {
    size_t capacity;      /* 10000 */
    int flush_ms;         /* 5000 */
    size_t batch;         /* 100 */
    size_t shutdown_batch;/* 200 */
    int max_attempts;     /* 5 */
} wb_opts_t;

typedef struct {
    uint64_t accepted, superseded, flushed, sync_written, dropped, retried, pending;
} wb_stats_t;

typedef enum { WB_BUFFERED = 0, WB_WRITTEN_SYNC, WB_DROPPED } wb_offer_t;

typedef struct writeback writeback_t;

writeback_t *writeback_new(store_t *store, const wb_opts_t *o, metrics_t *m);
wb_offer_t writeback_offer(writeback_t *w, const wb_record_t *rec);
/* Flush everything buffered now, on the calling thread (V5 workers, tests). Returns records
 * written, or -1 if a batch failed (records stay buffered for the next attempt). */
int writeback_flush_all(writeback_t *w);
void writeback_start(writeback_t *w);
/* Shutdown phase 4: refuse new offers (they are written synchronously), stop the flush thread,
 * drain in shutdown batches until 3 consecutive empty drains 100 ms apart or budget_ms ends.
 * Returns the number of records left (0 in normal operation). */
size_t writeback_drain(writeback_t *w, int64_t budget_ms);
wb_stats_t writeback_stats(writeback_t *w);
void writeback_free(writeback_t *w);

#endif
