/*
 * alert.h - alerts to a Discord-compatible webhook (4.4) with the standalone forms of SC-29:
 * de-duplication through the coordination markers (set-if-absent, ALERT_DEDUP_S) and a daily
 * quota in the primary database (quota_counter "alert", M24), day in the service timezone.
 *
 * Every alert, sent or not, is written to the log (ERROR for critical, WARN otherwise, with
 * "alert":true). Sending happens on a small bounded queue served by one thread, so callers never
 * wait for the webhook; a full queue drops the send (counted), never the log line.
 * Thread-safety: all functions are thread-safe. State: the send queue of this instance.
 */
#ifndef MX_APP_ALERT_H
#define MX_APP_ALERT_H

#include <stdbool.h>

#include "coord/coord.h"
#include "ops/metrics.h"
#include "store/store.h"

typedef enum { ALERT_INFO = 0, ALERT_WARNING, ALERT_CRITICAL } alert_severity_t;

typedef struct alerts alerts_t;

typedef struct {
    const char *webhook_url;  /* NULL/empty: log only */
    int daily_quota;          /* ALERT_DAILY_QUOTA */
    int dedup_s;              /* ALERT_DEDUP_S */
    const char *instance_id;
} alert_opts_t;

alerts_t *alerts_new(const alert_opts_t *o, store_t *store, coord_t *coord, metrics_t *m);
void alerts_free(alerts_t *a); /* sends what is queued (bounded wait), then stops */
bool alert_severity_parse(const char *s, alert_severity_t *out);
/* type: catalogue type ("test", ...); key: de-dup key within the type; summary: one line. */
void alert_raise(alerts_t *a, alert_severity_t sev, const char *type, const char *key, const char *summary,
                 const char *correlation_id);

#endif
