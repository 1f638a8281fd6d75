/* s4f-worker: runs the windowed analyses of worker.analyses over Kafka consumer groups, one
 * engine (thread) per analysis, or only the one named by --analysis (systemd's
 * s4f-worker@<analysis>). */
#include "daemon.h"
#include "engine.h"
#include "log.h"
#include "registry.h"
#include "window.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct worker_conf {
    struct s4f_daemon_common common;
    char *group_id;
    char *input_topic;
    struct s4f_kvlist kafka;
    int64_t commit_interval_ms;
    const struct s4f_node *analyses;
};

static const struct s4f_opt worker_opts[] = {
    S4F_DAEMON_COMMON_OPTS(struct worker_conf, "127.0.0.1:9102"),
    {"group_id", S4F_OPT_STRING, "s4f-worker", 0, 0, offsetof(struct worker_conf, group_id),
     "Consumer group prefix; each analysis consumes as <group_id>.<analysis>", NULL},
    {"input_topic", S4F_OPT_STRING, "ipfix.entry", 0, 0, offsetof(struct worker_conf, input_topic),
     "Topic of flow records (collector output)", NULL},
    {"kafka", S4F_OPT_MAP, NULL, 0, 0, offsetof(struct worker_conf, kafka),
     "librdkafka properties for the worker, applied over the shared kafka: section", NULL},
    {"commit_interval", S4F_OPT_DURATION, "1s", 10, 600000,
     offsetof(struct worker_conf, commit_interval_ms), "How often safe input offsets are committed",
     NULL},
    {"analyses", S4F_OPT_NODE, NULL, 0, 0, offsetof(struct worker_conf, analyses),
     "Map of analysis name to its options (see the analyses' tables); without --analysis, "
     "every analysis listed runs (all of them when the map is absent)",
     NULL},
    S4F_OPT_END,
};

struct job {
    const struct s4f_analysis *a;
    void *conf;
    struct s4f_engine *engine;
    pthread_t thread;
    bool started;
    int rc;
};

static struct job jobs[16];
static size_t njobs;

static void print_analyses(FILE *out)
{
    fprintf(out, "\nAnalyses (worker.analyses.<name>):\n");
    for (size_t i = 0; s4f_analyses[i]; i++)
        fprintf(out, "  %-24s %s\n", s4f_analyses[i]->name, s4f_analyses[i]->summary);
    for (size_t i = 0; s4f_analyses[i]; i++) {
        char section[128];
        snprintf(section, sizeof(section), "worker.analyses.%s", s4f_analyses[i]->name);
        fprintf(out, "\n");
        s4f_conf_print_help(out, section, s4f_analyses[i]->opts);
    }
}

static int add_job(struct s4f_daemon *d, const struct s4f_analysis *a, const struct s4f_node *n,
                   char *err, size_t errlen)
{
    char path[128];
    if (njobs == S4F_ARRAY_SIZE(jobs)) {
        snprintf(err, errlen, "too many analyses");
        return -1;
    }
    struct job *j = &jobs[njobs];
    j->a = a;
    j->conf = calloc(1, a->conf_size);
    if (!j->conf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    njobs++;
    snprintf(path, sizeof(path), "worker.analyses.%s", a->name);
    if (s4f_conf_apply(d->doc, n, path, a->opts, j->conf, err, errlen) != 0)
        return -1;
    char why[256];
    if (s4f_window_conf_check(j->conf, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    char cerr[1024];
    cerr[0] = '\0';
    if (a->check && a->check(j->conf, cerr, sizeof(cerr)) != 0) {
        snprintf(err, errlen, "%s: %s", path, cerr);
        return -1;
    }
    return 0;
}

static int validate(struct s4f_daemon *d, char *err, size_t errlen)
{
    struct worker_conf *conf = d->conf;
    const struct s4f_node *an = conf->analyses;
    if (an && an->kind != S4F_NODE_MAP) {
        snprintf(err, errlen, "%s:%zu:%zu: worker.analyses must be a map of analysis names",
                 d->doc->file, an->line, an->col);
        return -1;
    }
    for (size_t i = 0; an && i < an->n; i++)
        if (!s4f_analysis_find(an->keys[i])) {
            snprintf(err, errlen, "%s:%zu:%zu: unknown analysis '%s'", d->doc->file,
                     an->key_lines[i], an->key_cols[i], an->keys[i]);
            return -1;
        }
    if (d->analysis) {
        const struct s4f_analysis *a = s4f_analysis_find(d->analysis);
        if (!a) {
            snprintf(err, errlen, "--analysis: unknown analysis '%s'", d->analysis);
            return -1;
        }
        return add_job(d, a, s4f_node_get(an, a->name), err, errlen);
    }
    if (!an || an->n == 0) {
        for (size_t i = 0; s4f_analyses[i]; i++)
            if (add_job(d, s4f_analyses[i], NULL, err, errlen) != 0)
                return -1;
        return 0;
    }
    for (size_t i = 0; i < an->n; i++)
        if (add_job(d, s4f_analysis_find(an->keys[i]), an->items[i], err, errlen) != 0)
            return -1;
    return 0;
}

static void *job_thread(void *arg)
{
    struct job *j = arg;
    j->rc = s4f_engine_run(j->engine);
    return NULL;
}

static void free_jobs(void)
{
    for (size_t i = 0; i < njobs; i++) {
        s4f_engine_free(jobs[i].engine);
        s4f_conf_release(jobs[i].a->opts, jobs[i].conf);
        free(jobs[i].conf);
    }
    njobs = 0;
}

int main(int argc, char **argv)
{
    struct worker_conf conf = {0};
    struct s4f_daemon d = {
        .name = "worker",
        .summary = "Runs windowed flow analyses over Kafka consumer groups.",
        .opts = worker_opts,
        .conf = &conf,
        .uses_es = false,
        .takes_analysis = true,
        .print_extra_help = print_analyses,
        .validate = validate,
    };
    int rc = s4f_daemon_init(&d, argc, argv);
    if (rc != 0) {
        free_jobs();
        s4f_daemon_finish(&d);
        return rc < 0 ? 1 : 0;
    }
    if (s4f_daemon_start(&d) != 0) {
        free_jobs();
        s4f_daemon_finish(&d);
        return 1;
    }
    rc = 0;
    for (size_t i = 0; i < njobs; i++) {
        char err[512];
        struct s4f_engine_opts eo = {
            .analysis = jobs[i].a,
            .conf = jobs[i].conf,
            .group_prefix = conf.group_id,
            .default_input_topic = conf.input_topic,
            .kafka_shared = &d.kafka,
            .kafka_overrides = &conf.kafka,
            .commit_interval_ms = conf.commit_interval_ms,
            .metrics = d.metrics,
        };
        jobs[i].engine = s4f_engine_new(&eo, err, sizeof(err));
        if (!jobs[i].engine) {
            s4f_error("%s: %s", jobs[i].a->name, err);
            rc = 1;
            goto out;
        }
    }
    if (njobs == 1) {
        rc = s4f_engine_run(jobs[0].engine) == 0 ? 0 : 1;
        goto out;
    }
    for (size_t i = 0; i < njobs; i++) {
        if (pthread_create(&jobs[i].thread, NULL, job_thread, &jobs[i]) != 0) {
            s4f_error("cannot start a thread for %s", jobs[i].a->name);
            s4f_daemon_request_stop();
            rc = 1;
            break;
        }
        jobs[i].started = true;
    }
    for (size_t i = 0; i < njobs; i++)
        if (jobs[i].started) {
            pthread_join(jobs[i].thread, NULL);
            if (jobs[i].rc != 0)
                rc = 1;
        }
out:
    s4f_info("stopping");
    free_jobs();
    s4f_daemon_finish(&d);
    return rc;
}
