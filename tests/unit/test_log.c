/* test_log.c - structured logs: defaults before log_init, field order and values, escaping,
 * level filtering and parsing, truncation of long lines, the fields builders, whole lines from
 * concurrent threads, and partial writes to a full non-blocking pipe. stdout is redirected with
 * dup2 and every line is parsed with cJSON. */
#include "testutil.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "ops/log.h"

typedef struct {
    int saved;
    int fd;
    char path[64];
} capture_t;

static void capture_begin(capture_t *c)
{
    fflush(stdout);
    snprintf(c->path, sizeof c->path, "/tmp/test_log_XXXXXX");
    c->fd = mkstemp(c->path);
    assert_true(c->fd >= 0);
    c->saved = dup(STDOUT_FILENO);
    assert_true(c->saved >= 0);
    assert_true(dup2(c->fd, STDOUT_FILENO) >= 0);
}

/* Everything written to stdout since capture_begin (caller frees). */
static char *capture_end(capture_t *c, size_t *len)
{
    fflush(stdout);
    dup2(c->saved, STDOUT_FILENO);
    close(c->saved);
    close(c->fd);
    char *text = tu_read_file(c->path, len);
    unlink(c->path);
    return text;
}

/* Split text into lines (in place; each must end with '\n'); returns the count. */
static size_t split_lines(char *text, char **lines, size_t max)
{
    size_t n = 0;
    char *p = text;
    while (*p) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        assert_true(n < max);
        lines[n++] = p;
        p = nl + 1;
    }
    return n;
}

/* Capture exactly one line written by the caller's emit and parse it. */
#define CAPTURE_ONE(json_out, emit_stmt)                                                                       \
    do {                                                                                                       \
        capture_t cap_;                                                                                        \
        capture_begin(&cap_);                                                                                  \
        emit_stmt;                                                                                             \
        size_t len_;                                                                                           \
        char *text_ = capture_end(&cap_, &len_);                                                               \
        assert_true(len_ > 0 && len_ <= LOG_MAX_LINE);                                                         \
        assert_int_equal(text_[len_ - 1], '\n');                                                               \
        assert_ptr_equal(strchr(text_, '\n'), text_ + len_ - 1);                                               \
        (json_out) = cJSON_ParseWithLength(text_, len_);                                                       \
        if (!(json_out))                                                                                       \
            print_error("not JSON: %.300s\n", text_);                                                          \
        assert_non_null(json_out);                                                                             \
        free(text_);                                                                                           \
    } while (0)

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) {
        print_error("member %s is not a string\n", key);
        fail();
    }
    return v->valuestring;
}

static void assert_keys(const cJSON *o, const char *const *keys, size_t n)
{
    size_t i = 0;
    for (const cJSON *c = o->child; c; c = c->next, i++) {
        assert_true(i < n);
        assert_string_equal(c->string, keys[i]);
    }
    assert_int_equal(i, n);
}

/* Each {member, value} pair of the table is a string member of o with that value. */
typedef struct {
    const char *key, *value;
} member_t;

static void expect_string_members(const cJSON *o, const member_t *members, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_string_equal(str_of(o, members[i].key), members[i].value);
}
#define EXPECT_STRING_MEMBERS(o, ...)                                                                          \
    do {                                                                                                       \
        const member_t members_[] = {__VA_ARGS__};                                                             \
        expect_string_members((o), members_, sizeof members_ / sizeof members_[0]);                           \
    } while (0)

static time_t precise_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

/* Runs first: the settings before any log_init. */
static void test_defaults_before_init(void **state)
{
    (void)state;
    assert_true(log_enabled(LOG_INFO));
    assert_false(log_enabled(LOG_DEBUG));
    cJSON *o;
    CAPTURE_ONE(o, LOG_INFO_("boot", "start", "hello"));
    static const char *const keys[] = {"ts", "level", "msg", "instance", "mode", "version", "component", "op"};
    assert_keys(o, keys, 8);
    EXPECT_STRING_MEMBERS(o, {"level", "INFO"}, {"msg", "hello"}, {"instance", "-"}, {"mode", "-"}, {"version", "-"},
                          {"component", "boot"}, {"op", "start"});
    cJSON_Delete(o);

    capture_t c;
    capture_begin(&c);
    log_emit(LOG_DEBUG, "boot", "start", NULL, NULL, "hidden");
    size_t len;
    char *text = capture_end(&c, &len);
    assert_int_equal(len, 0);
    free(text);
}

static void test_fields_in_order(void **state)
{
    (void)state;
    log_init("i-1", "standalone", "1.2.3", LOG_DEBUG);
    time_t before = precise_now(); /* time() reads a coarse clock that can lag the logger's clock */
    cJSON *o;
    CAPTURE_ONE(o, log_emit(LOG_WARN, "http", "access", "cid-9", "\"status\":200,\"route\":\"/x\"", "hello %d %s", 5,
                            "world"));
    time_t after = precise_now();
    static const char *const keys[] = {"ts",        "level", "msg", "instance",       "mode",   "version",
                                       "component", "op",    "correlation_id", "status", "route"};
    assert_keys(o, keys, 11);
    EXPECT_STRING_MEMBERS(o, {"level", "WARN"}, {"msg", "hello 5 world"}, {"instance", "i-1"}, {"mode", "standalone"},
                          {"version", "1.2.3"}, {"component", "http"}, {"op", "access"}, {"correlation_id", "cid-9"});
    assert_int_equal(cJSON_GetObjectItem(o, "status")->valueint, 200);
    assert_string_equal(str_of(o, "route"), "/x");

    /* ts: 2026-02-16T03:00:00.123Z, UTC, between the two clock reads */
    const char *ts = str_of(o, "ts");
    assert_int_equal(strlen(ts), 24);
    struct tm tm = {0};
    int ms = -1;
    char z = 0;
    assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                            &tm.tm_min, &tm.tm_sec, &ms, &z),
                     8);
    assert_int_equal(z, 'Z');
    assert_true(ts[4] == '-' && ts[10] == 'T' && ts[19] == '.');
    assert_true(ms >= 0 && ms <= 999);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    assert_true(t >= before && t <= after);
    cJSON_Delete(o);

    /* no correlation id, empty fields: just the mandatory members; ERROR level */
    CAPTURE_ONE(o, log_emit(LOG_ERROR, "db", "ping", NULL, "", "down"));
    static const char *const keys8[] = {"ts", "level", "msg", "instance", "mode", "version", "component", "op"};
    assert_keys(o, keys8, 8);
    assert_string_equal(str_of(o, "level"), "ERROR");
    cJSON_Delete(o);

    /* NULL component/op become "-" so the members are always strings */
    CAPTURE_ONE(o, log_emit(LOG_DEBUG, NULL, NULL, NULL, NULL, "x"));
    assert_string_equal(str_of(o, "level"), "DEBUG");
    assert_string_equal(str_of(o, "component"), "-");
    assert_string_equal(str_of(o, "op"), "-");
    cJSON_Delete(o);
}

static void test_escaping(void **state)
{
    (void)state;
    log_init("in\"st", "mo\\de", "v\n1", LOG_INFO);
    cJSON *o;
    CAPTURE_ONE(o, log_emit(LOG_INFO, "comp\"x", "op\ty", "c\x01id", NULL, "q\" b\\ nl\n tab\t ctl\x01 bad\xff\xc3 ok %s",
                            "한글"));
    EXPECT_STRING_MEMBERS(o, {"msg", "q\" b\\ nl\n tab\t ctl\x01 bad\xEF\xBF\xBD\xEF\xBF\xBD ok 한글"},
                          {"instance", "in\"st"}, {"mode", "mo\\de"}, {"version", "v\n1"}, {"component", "comp\"x"},
                          {"op", "op\ty"}, {"correlation_id", "c\x01id"});
    cJSON_Delete(o);
    log_init(NULL, NULL, NULL, LOG_INFO); /* NULL settings fall back to "-" */
    CAPTURE_ONE(o, LOG_INFO_("c", "o", "m"));
    assert_string_equal(str_of(o, "instance"), "-");
    cJSON_Delete(o);
}

static void test_level_filter_and_parse(void **state)
{
    (void)state;
    log_init("i", "m", "v", LOG_WARN);
    assert_false(log_enabled(LOG_DEBUG));
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));
    capture_t c;
    capture_begin(&c);
    log_emit(LOG_DEBUG, "c", "o", NULL, NULL, "no");
    LOG_INFO_("c", "o", "no");
    LOG_WARN_("c", "o", "yes-warn");
    LOG_ERROR_("c", "o", "yes-error");
    size_t len;
    char *text = capture_end(&c, &len);
    char *lines[8];
    assert_int_equal(split_lines(text, lines, 8), 2);
    cJSON *a = cJSON_Parse(lines[0]), *b = cJSON_Parse(lines[1]);
    assert_string_equal(str_of(a, "msg"), "yes-warn");
    assert_string_equal(str_of(a, "level"), "WARN");
    assert_string_equal(str_of(b, "msg"), "yes-error");
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(text);

    log_level_t lv = LOG_ERROR;
    assert_true(log_level_parse("debug", &lv));
    assert_int_equal(lv, LOG_DEBUG);
    assert_true(log_level_parse("Info", &lv));
    assert_int_equal(lv, LOG_INFO);
    assert_true(log_level_parse("WARN", &lv));
    assert_int_equal(lv, LOG_WARN);
    assert_true(log_level_parse("eRRoR", &lv));
    assert_int_equal(lv, LOG_ERROR);
    lv = LOG_INFO;
    assert_false(log_level_parse("warning", &lv));
    assert_false(log_level_parse("", &lv));
    assert_false(log_level_parse("INFO ", &lv));
    assert_false(log_level_parse(NULL, &lv));
    assert_int_equal(lv, LOG_INFO); /* untouched on failure */
}

static bool is_truncated(const cJSON *o)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "log_truncated"));
}

/* s = `unit` repeated to fill len bytes (a whole number of units), NUL-terminated. */
static void fill_repeated(char *s, const char *unit, size_t len)
{
    size_t u = strlen(unit);
    for (size_t i = 0; i + u <= len; i += u)
        memcpy(s + i, unit, u);
    s[len] = '\0';
}

/* The logged msg of o is a prefix of s, longer than min_len and shorter than max_len bytes. */
static void expect_msg_prefix(const cJSON *o, const char *s, size_t min_len, size_t max_len)
{
    const char *msg = str_of(o, "msg");
    size_t n = strlen(msg);
    assert_true(n > min_len && n < max_len);
    assert_memory_equal(msg, s, n);
}

/* Logs s as the whole message and checks the cut as expect_msg_prefix does; the caller deletes the
 * returned line. */
static cJSON *log_and_expect_prefix(const char *s, size_t min_len, size_t max_len)
{
    cJSON *o;
    CAPTURE_ONE(o, LOG_INFO_("c", "o", "%s", s));
    expect_msg_prefix(o, s, min_len, max_len);
    return o;
}

static void test_truncation(void **state)
{
    (void)state;
    log_init("i", "m", "v", LOG_INFO);
    size_t big = 100000;
    char *s = malloc(big + 1);
    assert_non_null(s);
    cJSON *o;

    /* plain ASCII */
    fill_repeated(s, "a", big);
    CAPTURE_ONE(o, log_emit(LOG_INFO, "c", "o", "cid", "\"k\":1", "%s", s));
    expect_msg_prefix(o, s, 60000, SIZE_MAX);
    assert_true(is_truncated(o));
    assert_int_equal(cJSON_GetObjectItem(o, "k")->valueint, 1); /* fields kept */
    assert_string_equal(str_of(o, "correlation_id"), "cid");
    cJSON_Delete(o);

    /* quotes double in size when escaped: the cut never splits an escape */
    fill_repeated(s, "\"", 40000);
    o = log_and_expect_prefix(s, 30000, 40000);
    assert_true(is_truncated(o));
    cJSON_Delete(o);

    /* control characters become 6-byte \u escapes */
    fill_repeated(s, "\x01", 20000);
    cJSON_Delete(log_and_expect_prefix(s, 10000, 20000));

    /* multibyte characters are never split */
    fill_repeated(s, "한", 90000);
    o = log_and_expect_prefix(s, 60000, SIZE_MAX);
    assert_int_equal(strlen(str_of(o, "msg")) % 3, 0);
    assert_true(is_truncated(o));
    cJSON_Delete(o);

    /* fields too big to fit at all are dropped; msg stays whole */
    buf_t f;
    buf_init(&f, 1 << 20);
    fill_repeated(s, "f", big);
    log_fields_str(&f, "big", s);
    CAPTURE_ONE(o, log_emit(LOG_INFO, "c", "o", NULL, f.data, "short"));
    assert_string_equal(str_of(o, "msg"), "short");
    assert_null(cJSON_GetObjectItem(o, "big"));
    assert_true(is_truncated(o));
    cJSON_Delete(o);
    buf_dispose(&f);

    /* a short line is not marked */
    CAPTURE_ONE(o, LOG_INFO_("c", "o", "%s", "fits"));
    assert_false(is_truncated(o));
    cJSON_Delete(o);
    free(s);
}

static void test_fields_builders(void **state)
{
    (void)state;
    log_init("i", "m", "v", LOG_INFO);
    buf_t b;
    buf_init(&b, 4096);
    log_fields_str(&b, "route", "/x\"y");
    log_fields_int(&b, "status", -503);
    log_fields_num(&b, "ratio", 0.25);
    log_fields_num(&b, "nan", NAN);
    log_fields_bool(&b, "ok", true);
    log_fields_str(&b, "none", NULL);
    log_fields_masked(&b, "principal", "abcdefghijkl");
    log_fields_masked(&b, "short", "abcdefgh");
    log_fields_masked(&b, "absent", NULL);
    assert_true(buf_ok(&b));
    assert_int_equal(b.data[0], '"'); /* no leading comma */
    cJSON *o;
    CAPTURE_ONE(o, log_emit(LOG_INFO, "c", "o", NULL, b.data, "m"));
    assert_string_equal(str_of(o, "route"), "/x\"y");
    assert_int_equal(cJSON_GetObjectItem(o, "status")->valueint, -503);
    assert_true(cJSON_GetObjectItem(o, "ratio")->valuedouble == 0.25);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "nan")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "none")));
    assert_string_equal(str_of(o, "principal"), "abcd****ijkl");
    assert_string_equal(str_of(o, "short"), "****");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "absent")));
    cJSON_Delete(o);
    buf_dispose(&b);
}

#define THREADS 4
#define LINES_PER_THREAD 200

static void *emitter(void *arg)
{
    int id = (int)(intptr_t)arg;
    char pad[3001];
    memset(pad, 'a' + id, sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    for (int i = 0; i < LINES_PER_THREAD; i++)
        log_emit(LOG_INFO, "t", "emit", NULL, NULL, "%d %d %s", id, i, pad);
    return NULL;
}

static void test_concurrent_lines_stay_whole(void **state)
{
    (void)state;
    log_init("i", "m", "v", LOG_INFO);
    capture_t c;
    capture_begin(&c);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, emitter, (void *)(intptr_t)i), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    size_t len;
    char *text = capture_end(&c, &len);
    char **lines = malloc(sizeof(char *) * (THREADS * LINES_PER_THREAD + 1));
    assert_int_equal(split_lines(text, lines, THREADS * LINES_PER_THREAD + 1), THREADS * LINES_PER_THREAD);
    int next[THREADS] = {0};
    for (size_t i = 0; i < THREADS * LINES_PER_THREAD; i++) {
        cJSON *o = cJSON_Parse(lines[i]);
        assert_non_null(o);
        int id, seq;
        assert_int_equal(sscanf(str_of(o, "msg"), "%d %d", &id, &seq), 2);
        assert_true(id >= 0 && id < THREADS);
        assert_int_equal(seq, next[id]); /* each thread's lines in its own order */
        next[id]++;
        cJSON_Delete(o);
    }
    free(lines);
    free(text);
}

typedef struct {
    int fd;
    buf_t got;
    size_t want_lines;
} drain_t;

/* Reads the pipe slowly (small reads) until want_lines newlines or 5 s. */
static void *drainer(void *arg)
{
    drain_t *d = arg;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    size_t lines = 0;
    char chunk[512];
    while (lines < d->want_lines) {
        ssize_t n = read(d->fd, chunk, sizeof chunk);
        if (n <= 0)
            break;
        buf_append(&d->got, chunk, (size_t)n);
        for (ssize_t i = 0; i < n; i++)
            lines += chunk[i] == '\n';
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 5)
            break;
    }
    return NULL;
}

/* A non-blocking stdout pipe smaller than the line: write(2) returns short counts and EAGAIN,
 * and the line must still arrive whole. */
static void test_partial_writes_to_full_pipe(void **state)
{
    (void)state;
    log_init("i", "m", "v", LOG_INFO);
    int p[2];
    assert_int_equal(pipe(p), 0);
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    assert_int_equal(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK), 0);
    drain_t d = {.fd = p[0], .want_lines = 2};
    buf_init(&d.got, 1 << 20);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, drainer, &d), 0);

    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(p[1], STDOUT_FILENO);
    char *s = malloc(50001);
    memset(s, 'z', 50000);
    s[50000] = '\0';
    LOG_INFO_("c", "o", "%s", s);
    LOG_INFO_("c", "o", "second");
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(p[1]);
    pthread_join(t, NULL);
    close(p[0]);

    char *lines[4];
    assert_int_equal(split_lines((char *)buf_cstr(&d.got), lines, 4), 2);
    cJSON *o = cJSON_Parse(lines[0]);
    assert_non_null(o);
    assert_string_equal(str_of(o, "msg"), s);
    cJSON_Delete(o);
    o = cJSON_Parse(lines[1]);
    assert_non_null(o);
    assert_string_equal(str_of(o, "msg"), "second");
    cJSON_Delete(o);
    buf_dispose(&d.got);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_before_init), /* must stay first: nothing called log_init yet */
        cmocka_unit_test(test_fields_in_order),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_level_filter_and_parse),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_fields_builders),
        cmocka_unit_test(test_concurrent_lines_stay_whole),
        cmocka_unit_test(test_partial_writes_to_full_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
