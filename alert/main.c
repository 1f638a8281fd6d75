/* s4f-alert: forwards detections from Kafka to syslog receivers and HTTP webhooks (alert.h for
 * the pipeline, docs/alerts.md for what an operator sees): the destinations read from the
 * configuration (their tables are in conf.c), one thread each. */
#include "alert.h"
#include "log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DESTS 16

struct dest {
    char *name;
    struct s4f_alert_dest_conf conf;
    struct s4f_alert_dest *run;
    pthread_t thread;
    bool started;
};

static struct dest dests[MAX_DESTS];
static size_t ndests;

static void print_dest_help(FILE *out)
{
    fprintf(out, "\n");
    s4f_conf_print_help(out, "alert.destinations.<name>", s4f_alert_dest_opts);
}

static int validate(struct s4f_daemon *d, char *err, size_t errlen)
{
    struct s4f_alert_conf *c = d->conf;
    const struct s4f_node *dn = c->destinations;
    for (size_t i = 0; i < c->severities.n; i++) {
        bool ok = false;
        for (int s = 0; s4f_alert_severity_names[s]; s++)
            ok |= strcasecmp(c->severities.v[i], s4f_alert_severity_names[s]) == 0;
        if (!ok) {
            const struct s4f_node *sn = s4f_node_get(d->section, "severities");
            const struct s4f_node *v =
                sn && sn->kind == S4F_NODE_MAP && i < sn->n ? sn->items[i] : NULL;
            snprintf(err, errlen,
                     "%s:%zu:%zu: alert.severities.%s: '%s' is not low, medium, high "
                     "or critical",
                     d->doc->file, v ? v->line : 0, v ? v->col : 0, c->severities.k[i],
                     c->severities.v[i]);
            return -1;
        }
    }
    if (dn && dn->kind != S4F_NODE_MAP) {
        snprintf(err, errlen, "%s:%zu:%zu: alert.destinations must be a map of names", d->doc->file,
                 dn->line, dn->col);
        return -1;
    }
    for (size_t i = 0; dn && i < dn->n; i++) {
        char path[128], why[512];
        if (ndests == MAX_DESTS) {
            snprintf(err, errlen, "alert.destinations: at most %d", MAX_DESTS);
            return -1;
        }
        if (!s4f_alert_name_ok(dn->keys[i])) {
            snprintf(err, errlen,
                     "%s:%zu:%zu: destination name '%.80s': want [A-Za-z0-9_.-], "
                     "at most 64 bytes",
                     d->doc->file, dn->key_lines[i], dn->key_cols[i], dn->keys[i]);
            return -1;
        }
        struct dest *x = &dests[ndests++];
        if (!(x->name = strdup(dn->keys[i]))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        snprintf(path, sizeof(path), "alert.destinations.%s", dn->keys[i]);
        if (s4f_conf_apply(d->doc, dn->items[i], path, s4f_alert_dest_opts, &x->conf, err,
                           errlen) != 0)
            return -1;
        if (s4f_alert_dest_check(&x->conf, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s:%zu:%zu: %s.%s", d->doc->file, dn->key_lines[i],
                     dn->key_cols[i], path, why);
            return -1;
        }
    }
    return 0;
}

static void free_dests(void)
{
    for (size_t i = 0; i < ndests; i++) {
        s4f_alert_dest_free(dests[i].run);
        s4f_conf_release(s4f_alert_dest_opts, &dests[i].conf);
        free(dests[i].name);
    }
    ndests = 0;
}

static void *dest_thread(void *arg)
{
    struct dest *x = arg;
    if (s4f_alert_dest_run(x->run) != 0)
        s4f_daemon_request_stop();
    return NULL;
}

int main(int argc, char **argv)
{
    struct s4f_alert_conf conf;
    int status = 1;
    memset(&conf, 0, sizeof(conf));
    struct s4f_daemon d = {
        .name = "alert",
        .summary = "Forwards detections from Kafka to syslog receivers and HTTP webhooks.",
        .opts = s4f_alert_opts,
        .conf = &conf,
        .print_extra_help = print_dest_help,
        .validate = validate,
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = s4f_daemon_init(&d, argc, argv);
    if (rc != 0) {
        status = rc < 0 ? 1 : 0;
        goto out;
    }
    if (ndests == 0) {
        s4f_error("no alert.destinations configured: nothing to do");
        goto out;
    }
    if (s4f_daemon_start(&d) != 0)
        goto out;
    for (size_t i = 0; i < ndests; i++) {
        char err[512];
        dests[i].run =
            s4f_alert_dest_new(&d, &conf, dests[i].name, &dests[i].conf, err, sizeof(err));
        if (!dests[i].run) {
            s4f_error("destination %s: %s", dests[i].name, err);
            goto out;
        }
    }
    status = 0;
    for (size_t i = 0; i < ndests; i++) {
        if (pthread_create(&dests[i].thread, NULL, dest_thread, &dests[i]) != 0) {
            s4f_error("cannot start a thread for destination %s", dests[i].name);
            s4f_daemon_request_stop();
            status = 1;
            break;
        }
        dests[i].started = true;
    }
    for (size_t i = 0; i < ndests; i++)
        if (dests[i].started)
            pthread_join(dests[i].thread, NULL);
    s4f_info("stopping");
    s4f_daemon_exit_watchdog(&d, status);
out:
    free_dests();
    s4f_daemon_finish(&d);
    curl_global_cleanup();
    return status;
}
