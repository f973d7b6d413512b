/*
 * static_server.c - the ceiling for bench/http: a minimal libevent evhttp server answering every
 * request with one fixed body, with the same threading as `maplexp serve` (one event loop per
 * thread accepting on one shared socket). Whatever this reaches on a machine is the most an
 * evhttp service can reach there; the service is measured against it in the same run.
 *
 *   static_server PORT BODY_BYTES [THREADS]
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *g_body;
static size_t g_body_len;

static void answer(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Content-Encoding", "gzip");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_reference(b, g_body, g_body_len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void *loop(void *arg)
{
    int fd = *(int *)arg;
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_gencb(http, answer, NULL);
    evhttp_accept_socket(http, fd);
    event_base_dispatch(base);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: static_server PORT BODY_BYTES [THREADS]\n");
        return 2;
    }
    int port = atoi(argv[1]), threads = argc > 3 ? atoi(argv[3]) : 2;
    g_body_len = (size_t)atol(argv[2]);
    g_body = malloc(g_body_len ? g_body_len : 1);
    for (size_t i = 0; i < g_body_len; i++)
        g_body[i] = (char)('a' + i % 26);
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* as the service does */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(0x7f000001)};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4096) != 0) {
        perror("static_server: bind");
        return 1;
    }
    printf("{\"event\":\"listening\",\"port\":%d}\n", port);
    fflush(stdout);
    pthread_t t[64];
    for (int i = 0; i < threads && i < 64; i++)
        pthread_create(&t[i], NULL, loop, &fd);
    for (int i = 0; i < threads && i < 64; i++)
        pthread_join(t[i], NULL);
    return 0;
}
