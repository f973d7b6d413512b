/*
 * outbox_hash.c - the outbox content hash of 2.3.8 (store.h): one definition for the backends
 * that write it and the relays that verify it.
 */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "store/store.h"

int store_outbox_content_hash(const char *request_id, const char *event_type, const char *payload, char out[65])
{
    out[0] = '\0';
    size_t a = strlen(request_id), b = strlen(event_type), c = strlen(payload);
    char *text = malloc(a + b + c + 3);
    if (!text)
        return -1;
    memcpy(text, request_id, a);
    text[a] = '|';
    memcpy(text + a + 1, event_type, b);
    text[a + 1 + b] = '|';
    memcpy(text + a + b + 2, payload, c + 1);
    int rc = sha256_hex(text, a + b + c + 2, out);
    free(text);
    return rc;
}

bool store_outbox_row_intact(const store_outbox_row_t *row)
{
    char hex[65];
    return store_outbox_content_hash(row->request_id, row->event_type, row->payload ? row->payload : "", hex) == 0 &&
           strcmp(hex, row->content_hash) == 0;
}
