/*
 * net.c - CIDR lists (METRICS_ALLOWED_CIDRS, TRUSTED_PROXIES) and address matching.
 * IPv4-mapped IPv6 peers (::ffff:a.b.c.d) match IPv4 networks.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

static bool parse_addr(const char *s, int *family, unsigned char addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(addr, mapped, 12)) {
            memmove(addr, addr + 12, 4);
            memset(addr + 4, 0, 12);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return true;
    }
    return false;
}

bool cidr_parse_list(const char *list, cidr_t *out, int max, int *n, char *err, size_t errlen)
{
    *n = 0;
    char *copy = strdup(list ? list : ""), *save = NULL;
    if (!copy)
        return false;
    bool ok = true;
    for (char *t = strtok_r(copy, ", ", &save); t && ok; t = strtok_r(NULL, ", ", &save)) {
        if (*n >= max) {
            snprintf(err, errlen, "too many networks in '%s' (max %d)", list, max);
            ok = false;
            break;
        }
        cidr_t *c = &out[*n];
        char *slash = strchr(t, '/');
        if (slash)
            *slash = '\0';
        if (!parse_addr(t, &c->family, c->addr)) {
            snprintf(err, errlen, "METRICS_ALLOWED_CIDRS/TRUSTED_PROXIES: '%s' is not an address", t);
            ok = false;
            break;
        }
        int maxbits = c->family == AF_INET ? 32 : 128;
        char *end = NULL;
        long bits = slash ? strtol(slash + 1, &end, 10) : maxbits;
        if ((slash && (end == slash + 1 || *end != '\0')) || bits < 0 || bits > maxbits) {
            snprintf(err, errlen, "METRICS_ALLOWED_CIDRS/TRUSTED_PROXIES: bad prefix length in '%s/%s'", t,
                     slash ? slash + 1 : "");
            ok = false;
            break;
        }
        c->bits = (int)bits;
        (*n)++;
    }
    free(copy);
    return ok;
}

bool cidr_match_any(const cidr_t *list, int n, const char *ip)
{
    int family;
    unsigned char a[16];
    if (!ip || !parse_addr(ip, &family, a))
        return false;
    for (int i = 0; i < n; i++) {
        if (list[i].family != family)
            continue;
        int bits = list[i].bits, k = 0;
        for (; bits >= 8; bits -= 8, k++)
            if (a[k] != list[i].addr[k])
                break;
        if (bits >= 8)
            continue;
        unsigned char mask = (unsigned char)(0xFF << (8 - bits));
        if (bits == 0 || (a[k] & mask) == (list[i].addr[k] & mask))
            return true;
    }
    return false;
}
