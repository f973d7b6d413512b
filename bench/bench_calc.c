/*
 * bench_calc.c - micro-benchmark of one full character valuation (issue: median ≤ 3 ms, of which
 * parsing ≤ 2 ms on the 2-core machine).
 *
 * One "valuation" = decode the 357 KB sample payload (cJSON + field extraction) + value every
 * preset + write the V4 JSON. Tables are loaded once beforehand (that is start-up work, not
 * per request). Each phase is timed with CLOCK_MONOTONIC per iteration and the medians are
 * printed. bench/calc also runs this binary under callgrind with --toggle-collect on
 * bench_parse / bench_valuation for instruction counts that do not depend on machine noise.
 *
 * Usage: bench_calc PAYLOAD [ITERATIONS]   (run from the repository root)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "domain/equipment.h"
#include "domain/ptable.h"
#include "domain/report.h"
#include "domain/valuation.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) {
        p[n] = '\0';
        *len = (size_t)n;
    }
    return p;
}

/* noinline: callgrind --toggle-collect needs these as real functions. */
__attribute__((noinline)) equip_doc_t *bench_parse(const char *json, size_t len);
__attribute__((noinline)) size_t bench_valuation(const ptable_t *t, const equip_doc_t *doc, buf_t *out);

equip_doc_t *bench_parse(const char *json, size_t len)
{
    char err[256];
    equip_doc_t *doc = NULL;
    if (equip_parse(json, len, &doc, err, sizeof err) != 0) {
        fprintf(stderr, "parse: %s\n", err);
        exit(1);
    }
    return doc;
}

size_t bench_valuation(const ptable_t *t, const equip_doc_t *doc, buf_t *out)
{
    valuation_t *v = NULL;
    if (valuation_compute(t, doc, NULL, &v) != 0)
        exit(1);
    report_meta_t meta = {.user_ign = "bench", .calculated_at = "2026-01-01T00:00:00.000000"};
    buf_reset(out);
    if (report_v4_json(v, &meta, out) != 0)
        exit(1);
    valuation_free(v);
    return out->len;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int load_table(ptable_t *t, const char *path)
{
    size_t len;
    char *data = read_all(path, &len);
    char err[256];
    if (!data || ptable_add_csv(t, data, len, path, err, sizeof err) != 0) {
        fprintf(stderr, "cannot load %s\n", path);
        free(data);
        return -1;
    }
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_calc PAYLOAD [ITERATIONS]\n");
        return 2;
    }
    int iters = argc > 2 ? atoi(argv[2]) : 300;
    if (iters < 1)
        iters = 1;
    ptable_t *t = ptable_new();
    double t0 = now_ms();
    if (load_table(t, "data/cube_probability.csv") || load_table(t, "data/additional_potential_probability.csv"))
        return 1;
    ptable_finish(t);
    double load_ms = now_ms() - t0;

    size_t len;
    char *json = read_all(argv[1], &len);
    if (!json) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    double *parse = calloc((size_t)iters, sizeof *parse);
    double *value = calloc((size_t)iters, sizeof *value);
    double *total = calloc((size_t)iters, sizeof *total);
    buf_t out;
    buf_init(&out, 64u << 20);
    size_t out_len = 0;
    for (int i = 0; i < iters; i++) {
        double a = now_ms();
        equip_doc_t *doc = bench_parse(json, len);
        double b = now_ms();
        out_len = bench_valuation(t, doc, &out);
        double c = now_ms();
        equip_free(doc);
        parse[i] = b - a;
        value[i] = c - b;
        total[i] = c - a;
    }
    printf("payload_bytes %zu\nresponse_bytes %zu\niterations %d\ntable_load_ms %.1f\n", len, out_len, iters, load_ms);
    printf("median_parse_ms %.3f\nmedian_value_and_json_ms %.3f\nmedian_total_ms %.3f\n", median(parse, iters),
           median(value, iters), median(total, iters));
    buf_dispose(&out);
    free(parse);
    free(value);
    free(total);
    free(json);
    ptable_free(t);
    return 0;
}
