#!/usr/bin/env bash
# Templates and retention: at start the sink installs its component and index templates
# (addresses typed ip), a restart finds them unchanged and writes nothing, a template changed
# behind its back is put back; daily indices older than the retention are deleted, the others
# and foreign indices under the prefix are kept.
. "$(dirname "$0")/lib.sh"
t_init templates

t_topic "$RUN-results" 1
t_topic "$RUN-dead" 1
# Indices the retention must judge: one expired, one recent, one not named by the sink.
today=$(date -u +%Y.%m.%d)
for idx in "$RUN-protocols_statistics-2000.01.01" "$RUN-host_stats-$today" "$RUN-notes"; do
	curl -sf -X PUT "$ES/$idx" >/dev/null || t_fail "cannot create $idx"
done

t_conf "$WORK/sink.yml" "retention: 30d"
t_sink_start "$WORK/sink.yml" "$WORK/sink1.log"
n_tpl=$(ls "$SRC"/sink/templates/*.json | wc -l)
t_wait "templates installed" 30 t_metric_ge templates_installed_total "$n_tpl"
t_wait "expired index deleted" 30 t_metric_ge indices_deleted_total 1
exists() { [[ $(curl -s -o /dev/null -w '%{http_code}' "$ES/$1") == 200 ]]; }
! exists "$RUN-protocols_statistics-2000.01.01" || t_fail "expired index still there"
exists "$RUN-host_stats-$today" || t_fail "recent index deleted"
exists "$RUN-notes" || t_fail "foreign index deleted"

curl -s "$ES/_index_template/$RUN-*" >"$WORK/tpl.json"
jq -e --arg r "$RUN" '[.index_templates[] | select(.name == ($r + "-host_stats"))][0].index_template |
	(.template.mappings.properties.host.type == "ip") and
	(.template.mappings.properties.top_peers.properties.ip.type == "ip") and
	(._meta.s4f_hash | length == 16) and (.composed_of == [$r + "-common"])' "$WORK/tpl.json" \
	>/dev/null || t_fail "host_stats template: $(jq -c . "$WORK/tpl.json" | head -c 600)"
jq -e --arg r "$RUN" '[.index_templates[] | select(.name == ($r + "-portscan_vertical"))][0]
	.index_template.template.mappings.properties | (.src_ip.type == "ip") and (.dst_ip.type == "ip")' \
	"$WORK/tpl.json" >/dev/null || t_fail "portscan_vertical template"
curl -s "$ES/_component_template/$RUN-common" | jq -e '.component_templates[0].component_template
	.template.mappings.properties | (."@timestamp".type == "date") and (.window_start.type == "date")
	and (.window_end.type == "date") and (."@type".type == "keyword") and (.id.type == "keyword")' \
	>/dev/null || t_fail "common component template"
t_sink_stop

# A restart writes nothing.
t_sink_start "$WORK/sink.yml" "$WORK/sink2.log"
t_wait "templates checked" 30 t_metric_ge templates_unchanged_total "$n_tpl"
[[ $(t_metric templates_installed_total) == 0 ]] || t_fail "unchanged templates rewritten"
t_sink_stop

# A template edited by hand is put back.
curl -sf -X PUT "$ES/_index_template/$RUN-protocols_statistics" -H 'Content-Type: application/json' \
	-d "{\"index_patterns\":[\"$RUN-protocols_statistics-*\"],\"priority\":200,\"_meta\":{\"s4f_hash\":\"edited\"}}" \
	>/dev/null || t_fail "cannot edit the template"
t_sink_start "$WORK/sink.yml" "$WORK/sink3.log"
t_wait "edited template put back" 30 t_metric_ge templates_installed_total 1
[[ $(t_metric templates_installed_total) == 1 ]] || t_fail "more than the edited template rewritten"
curl -s "$ES/_index_template/$RUN-protocols_statistics" | jq -e '.index_templates[0].index_template
	.template.mappings.properties.bytes.type == "long"' >/dev/null || t_fail "template not restored"
t_sink_stop
