/*
 * main.c - `fake-nexon`: command line, start-up and shutdown of the fake Nexon Open API used by
 * the tests, benchmarks and the demo (tools/fake-nexon/README.md).
 *
 * Start-up prints exactly one line on stdout, {"event":"listening","host":...,"port":N}, and
 * flushes it: callers start the server with --port 0 and read the port from that line.
 * SIGTERM and SIGINT stop the loop through libevent signal events (no work in a signal
 * handler); everything is then freed and the process exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "base/buf.h"
#include "base/jw.h"
#include "fn_chars.h"
#include "fn_gen.h"
#include "fn_server.h"

#ifndef MAPLEXP_DATADIR
#define MAPLEXP_DATADIR "data"
#endif

#define EXIT_USAGE 2

static const char USAGE[] =
    "Usage: fake-nexon [--host ADDR] [--port N] [--api-key KEY] [--template FILE]\n"
    "                  [--payload-dir DIR] [--demo-count N] [--help]\n"
    "\n"
    "A fake Nexon Open API (id, character/basic, character/item-equipment, character/list)\n"
    "with an /admin API for call counters, injected faults and user keys.\n"
    "\n"
    "  --host ADDR        address to listen on (default 127.0.0.1)\n"
    "  --port N           port, 0 = any free port (default 0)\n"
    "  --api-key KEY      the server key callers must send in x-nxopen-api-key\n"
    "                     (default demo-nexon-key)\n"
    "  --template FILE    item-equipment payload the generated characters derive from\n"
    "                     (default " MAPLEXP_DATADIR "/../tools/fake-nexon/template_equip.json)\n"
    "  --payload-dir DIR  every DIR/<IGN>.json is a character served verbatim\n"
    "  --demo-count N     number of demo characters, 0..10000 (default 12)\n"
    "  --help             this text\n"
    "\n"
    "On start one line is printed: {\"event\":\"listening\",\"host\":...,\"port\":N}.\n"
    "Environment: MAPLEXP_DATA_DIR overrides the directory of the probability tables.\n"
    "See tools/fake-nexon/README.md for the character rules and the admin API.\n";

typedef struct {
    const char *host;
    long port;
    const char *api_key;
    const char *template_path;
    const char *payload_dir;
    long demo_count;
} options_t;

static bool parse_long(const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    if (!text || !*text)
        return false;
    long v = strtol(text, &end, 10);
    if (*end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Returns 0 to run, 1 after --help, EXIT_USAGE after printing a problem. */
static int parse_options(int argc, char **argv, options_t *o)
{
    *o = (options_t){"127.0.0.1", 0, "demo-nexon-key", MAPLEXP_DATADIR "/../tools/fake-nexon/template_equip.json",
                     NULL, 12};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(USAGE, stdout);
            return 1;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        bool ok = value != NULL;
#define IS(name) (name_len == strlen(name) && strncmp(arg, name, name_len) == 0)
        if (IS("--host"))
            o->host = value;
        else if (IS("--port"))
            ok = ok && parse_long(value, 0, 65535, &o->port);
        else if (IS("--api-key")) {
            ok = ok && *value;
            if (ok)
                o->api_key = value;
        } else if (IS("--template"))
            o->template_path = value;
        else if (IS("--payload-dir"))
            o->payload_dir = value;
        else if (IS("--demo-count"))
            ok = ok && parse_long(value, 0, FN_MAX_DEMO, &o->demo_count);
        else {
            fprintf(stderr, "fake-nexon: unknown option %s (see --help)\n", arg);
            return EXIT_USAGE;
        }
#undef IS
        if (!ok) {
            fprintf(stderr, "fake-nexon: %.*s needs a valid value (see --help)\n", (int)name_len, arg);
            return EXIT_USAGE;
        }
        if (!eq)
            i++;
    }
    return 0;
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static void print_listening(const char *host, int port)
{
    buf_t b;
    buf_init(&b, 4096);
    jw_t w;
    jw_init(&w, &b);
    jw_object_begin(&w);
    jw_key(&w, "event");
    jw_string(&w, "listening");
    jw_key(&w, "host");
    jw_string(&w, host);
    jw_key(&w, "port");
    jw_int(&w, port);
    jw_object_end(&w);
    printf("%s\n", buf_cstr(&b));
    fflush(stdout);
    buf_dispose(&b);
}

int main(int argc, char **argv)
{
    options_t o;
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up mid-response must not kill the server */

    const char *tables_dir = getenv("MAPLEXP_DATA_DIR");
    if (!tables_dir || !*tables_dir)
        tables_dir = MAPLEXP_DATADIR;
    char err[1024] = "";
    fn_registry_t *reg = fn_registry_new((int)o.demo_count, o.payload_dir, err, sizeof err);
    fn_gen_t *gen = reg ? fn_gen_new(o.template_path, tables_dir, err, sizeof err) : NULL;
    struct event_base *base = gen ? event_base_new() : NULL;
    fn_server_t *server = base ? fn_server_new(base, reg, gen, o.api_key, err, sizeof err) : NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    int port = server ? fn_server_listen(server, o.host, (int)o.port, err, sizeof err) : -1;
    if (port >= 0) {
        sigterm = evsignal_new(base, SIGTERM, on_stop_signal, base);
        sigint = evsignal_new(base, SIGINT, on_stop_signal, base);
        if (!sigterm || !sigint || evsignal_add(sigterm, NULL) != 0 || evsignal_add(sigint, NULL) != 0) {
            snprintf(err, sizeof err, "cannot install signal handlers");
            port = -1;
        }
    }
    if (port >= 0) {
        print_listening(o.host, port);
        rc = event_base_dispatch(base) < 0 ? 1 : 0;
    } else {
        fprintf(stderr, "fake-nexon: %s\n", err[0] ? err : "start-up failed");
        rc = 1;
    }
    fn_server_free(server); /* before the base: it closes connections and drops timers */
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    if (base)
        event_base_free(base);
    fn_gen_free(gen);
    fn_registry_free(reg);
    libevent_global_shutdown();
    return rc;
}
