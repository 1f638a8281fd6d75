/* libFuzzer target: a result as s4f-alert reads it from Kafka. None may crash, hang or leak; an
 * accepted result must give an ECS document that is one JSON object on one line of ASCII, and a
 * syslog message of one line whose structured data closes where it should. */
#include "alert.h"
#include "buf.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s4f_detection det;
    char why[256];
    if (s4f_detection_parse(data, size, &det, why, sizeof(why)) != S4F_OK)
        return 0;
    enum s4f_alert_severity sev = s4f_alert_severity_of(NULL, S4F_SEV_LOW, det.type);
    char *ecs = s4f_alert_ecs_json(&det, sev);
    if (!ecs)
        abort();
    for (const char *c = ecs; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7f)
            abort(); /* JSON_ENSURE_ASCII and escaped controls: one line of ASCII */
    json_t *back = json_loads(ecs, 0, NULL);
    if (!json_is_object(back))
        abort();
    json_decref(back);
    struct s4f_buf line = {0};
    if (s4f_alert_syslog_line(&line, &det, sev, 16, "host", "s4f-alert", 1, ecs) != 0)
        abort();
    /* The structured data ends at the first unescaped ']' followed by a space and the JSON. */
    const char *sd = strstr(line.p, "[s4f@32473 ");
    if (!sd)
        abort();
    const char *q = sd;
    while (*q && !(*q == ']' && q[-1] != '\\'))
        q++;
    if (strncmp(q, "] {", 3) != 0 || strcmp(q + 2, ecs) != 0)
        abort();
    s4f_buf_free(&line);
    free(ecs);
    s4f_detection_release(&det);
    return 0;
}
