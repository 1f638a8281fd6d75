#include "retention.h"

#include "bulk.h"
#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000LL

int s4f_retention_expired(int64_t day_ms, int64_t now_ms, int64_t retention_ms)
{
    return retention_ms > 0 && day_ms + DAY_MS <= now_ms - retention_ms;
}

int s4f_retention_future(int64_t day_ms, int64_t now_ms, int64_t max_future_ms)
{
    return day_ms > now_ms + max_future_ms + DAY_MS;
}

enum s4f_status s4f_retention_run(struct s4f_es_client *es, const char *prefix,
                                  int64_t retention_ms, int64_t max_future_ms, int64_t now_ms,
                                  int *deleted)
{
    struct s4f_es_response resp = {0};
    enum s4f_status st = S4F_RETRY;
    json_t *list = NULL;
    char path[512];

    *deleted = 0;
    snprintf(path, sizeof(path),
             "/_cat/indices/%s-*?format=json&h=index&expand_wildcards=open,closed", prefix);
    if (s4f_es_request(es, "GET", path, NULL, NULL, 0, &resp) != S4F_OK) {
        s4f_warn_rl("retention: cannot list indices: %s", resp.error);
        goto out;
    }
    if (resp.status != 200) {
        s4f_warn_rl("retention: listing indices: HTTP %ld", resp.status);
        goto out;
    }
    list = json_loadb(resp.body.p, resp.body.len, 0, NULL);
    if (!json_is_array(list)) {
        s4f_warn_rl("retention: unexpected answer to %s", path);
        goto out;
    }
    st = S4F_OK;
    size_t i;
    json_t *row;
    json_array_foreach(list, i, row)
    {
        const char *name = json_string_value(json_object_get(row, "index"));
        int64_t day;
        if (!name || s4f_bulk_index_day(prefix, name, &day) != 0 ||
            !(s4f_retention_expired(day, now_ms, retention_ms) ||
              s4f_retention_future(day, now_ms, max_future_ms)))
            continue;
        snprintf(path, sizeof(path), "/%s", name);
        if (s4f_es_request(es, "DELETE", path, NULL, NULL, 0, &resp) == S4F_OK &&
            (resp.status == 200 || resp.status == 404)) {
            s4f_info("retention: deleted index %s", name);
            (*deleted)++;
        } else {
            s4f_warn_rl("retention: cannot delete %s: HTTP %ld %s", name, resp.status, resp.error);
            st = S4F_RETRY;
        }
    }
out:
    json_decref(list);
    s4f_es_response_free(&resp);
    return st;
}
