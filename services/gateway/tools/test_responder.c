/* tm-test-responder: a small NATS service for the gateway's integration tests.
 *
 *   tm-test-responder <nats-url> <subject> [--delay-ms N] [--silent] [--status N]
 *                     [--etag VALUE] [--header Name=Value]
 *   tm-test-responder <nats-url> <subject> --publish <data>
 *
 * Answers each request on <subject> with Tm-Status (default 200) and a JSON echo of what
 * arrived: {"subject","headers":{...},"body_len","body"}; --delay-ms waits first (the
 * callback thread sleeps: replies are serialised), --silent never answers; --publish sends
 * one message and exits. Prints
 * "ready" on stdout once subscribed; stops on SIGTERM/SIGINT. Test tool, not a service. */
#include <jansson.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tm_nats.h"

typedef struct {
    int delay_ms;
    int silent;
    const char *status;
    const char *etag;
    const char *extra_name;
    const char *extra_value;
    const char *publish;
} opts_t;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static json_t *echo(natsMsg *msg)
{
    const char **keys = NULL;
    int n = 0;
    json_t *headers = json_object();
    if (natsMsgHeader_Keys(msg, &keys, &n) == NATS_OK) {
        for (int i = 0; i < n; i++) {
            const char *v = NULL;
            if (natsMsgHeader_Get(msg, keys[i], &v) == NATS_OK && v != NULL)
                json_object_set_new(headers, keys[i], json_string(v));
        }
        free((void *)keys);
    }
    int len = natsMsg_GetDataLength(msg);
    json_t *body = json_stringn(natsMsg_GetData(msg), (size_t)len); /* NULL if not UTF-8 */
    return json_pack("{s:s, s:o, s:i, s:o}", "subject", natsMsg_GetSubject(msg), "headers", headers,
                     "body_len", len, "body", body ? body : json_null());
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    const opts_t *o = closure;
    natsMsg *reply = NULL;
    if (o->silent || tm_nats_reply_subject(msg) == NULL)
        goto done;
    if (o->delay_ms > 0)
        usleep((useconds_t)o->delay_ms * 1000);
    json_t *e = echo(msg);
    char *text = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    if (natsMsg_Create(&reply, tm_nats_reply_subject(msg), NULL, text, (int)strlen(text)) ==
        NATS_OK) {
        natsMsgHeader_Set(reply, "Tm-Status", o->status);
        natsMsgHeader_Set(reply, "Content-Type", "application/json");
        if (o->etag)
            natsMsgHeader_Set(reply, "ETag", o->etag);
        if (o->extra_name)
            natsMsgHeader_Set(reply, o->extra_name, o->extra_value);
        natsConnection_PublishMsg(nc, reply);
    }
    natsMsg_Destroy(reply);
    free(text);
done:
    natsMsg_Destroy(msg);
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static char name[128];
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--silent") == 0)
            o->silent = 1;
        else if (strcmp(argv[i], "--publish") == 0 && i + 1 < argc)
            o->publish = argv[++i];
        else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
            o->delay_ms = atoi(argv[++i]);
        else if (strcmp(argv[i], "--status") == 0 && i + 1 < argc)
            o->status = argv[++i];
        else if (strcmp(argv[i], "--etag") == 0 && i + 1 < argc)
            o->etag = argv[++i];
        else if (strcmp(argv[i], "--header") == 0 && i + 1 < argc && strchr(argv[i + 1], '=')) {
            const char *eq = strchr(argv[++i], '=');
            snprintf(name, sizeof(name), "%.*s", (int)(eq - argv[i]), argv[i]);
            o->extra_name = name;
            o->extra_value = eq + 1;
        } else
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o = {.status = "200"};
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    if (argc < 3 || parse_args(argc, argv, &o) != 0) {
        fprintf(stderr,
                "usage: %s <nats-url> <subject> [--delay-ms N] [--silent] [--status N] "
                "[--etag V] [--header Name=Value]\n",
                argv[0]);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    natsOptions *opts = NULL;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, argv[1]);
    natsOptions_SetSendAsap(opts, true);
    if (o.publish != NULL) {
        int ok = natsConnection_Connect(&nc, opts) == NATS_OK &&
                 natsConnection_PublishString(nc, argv[2], o.publish) == NATS_OK &&
                 natsConnection_Flush(nc) == NATS_OK;
        natsConnection_Destroy(nc);
        natsOptions_Destroy(opts);
        nats_Close();
        return ok ? 0 : 1;
    }
    if (natsConnection_Connect(&nc, opts) != NATS_OK ||
        natsConnection_Subscribe(&sub, nc, argv[2], on_msg, &o) != NATS_OK ||
        natsSubscription_SetPendingLimits(sub, -1, -1) != NATS_OK ||
        natsConnection_Flush(nc) != NATS_OK) {
        fprintf(stderr, "tm-test-responder: %s\n", nats_GetLastError(NULL));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (!g_stop)
        usleep(50000);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    nats_Close();
    return 0;
}
