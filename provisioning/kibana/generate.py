#!/usr/bin/env python3
"""Generates stream4flow.ndjson, the Kibana saved objects of Stream4Flow (standard library only).

  python3 provisioning/kibana/generate.py [PREFIX] > provisioning/kibana/stream4flow.ndjson

Objects: one data view per result family (all rule results, rule_*, share one), Lens visualisations, the "Stream4Flow overview"
dashboard (protocol statistics over time, scans, top hosts) and the "Stream4Flow DNS" dashboard
(open and external resolvers, reflection attacks, and a saved search of the DNS statistics:
their data_array is nested, which Lens does not aggregate). Import them with
  curl -X POST "$KIBANA/api/saved_objects/_import?overwrite=true" -H 'kbn-xsrf: true' \
       --form file=@provisioning/kibana/stream4flow.ndjson
Object ids are fixed, so importing again updates them in place. Written against the saved-object
format of Kibana 8.x (data views "index-pattern", "lens", "dashboard").
"""
import json
import sys

PREFIX = sys.argv[1] if len(sys.argv) > 1 else "stream4flow"

DATA_VIEWS = [
    # id, title, time field, name
    ("s4f-dv-protocols", PREFIX + "-protocols_statistics-*", "@timestamp",
     "Stream4Flow protocol statistics"),
    ("s4f-dv-portscans", PREFIX + "-portscan_*", "@timestamp", "Stream4Flow port scans"),
    ("s4f-dv-hosts", PREFIX + "-host_stats-*", "@timestamp", "Stream4Flow host statistics"),
    ("s4f-dv-host-profiles", PREFIX + "-host_stats_temporal_profile-*", "@timestamp",
     "Stream4Flow host temporal profiles"),
    ("s4f-dv-dns", PREFIX + "-dns_statistics-*", "@timestamp", "Stream4Flow DNS statistics"),
    ("s4f-dv-open-resolvers", PREFIX + "-open_dns_resolver-*", "@timestamp",
     "Stream4Flow open DNS resolvers"),
    ("s4f-dv-external-resolvers", PREFIX + "-external_dns_resolver-*", "@timestamp",
     "Stream4Flow external DNS resolvers"),
    ("s4f-dv-reflectdos", PREFIX + "-detection.reflectdos-*", "@timestamp",
     "Stream4Flow DNS reflection attacks"),
    ("s4f-dv-tls", PREFIX + "-tls_classification-*", "@timestamp",
     "Stream4Flow TLS classification"),
    ("s4f-dv-top-n-hosts", PREFIX + "-top_n_host_stats-*", "@timestamp",
     "Stream4Flow top-N destinations per host"),
    ("s4f-dv-ssh", PREFIX + "-ssh_auth_simple-*", "@timestamp",
     "Stream4Flow SSH password guessing"),
    ("s4f-dv-ddos", PREFIX + "-detection.ddos-*", "@timestamp", "Stream4Flow DDoS victims"),
    ("s4f-dv-pattern-finder", PREFIX + "-pattern_finder-*", "@timestamp",
     "Stream4Flow pattern_finder"),
    ("s4f-dv-rules", PREFIX + "-rule_*", "@timestamp",
     "Stream4Flow rule results (rule_<name>, docs/rules.md)"),
    ("s4f-dv-flows", PREFIX + "-flows-*", "ipfix.flowEndMilliseconds",
     "Stream4Flow raw flows (sink.index_flows)"),
]


def data_view(i, title, tf, name):
    return {"id": i, "type": "index-pattern", "managed": False,
            "coreMigrationVersion": "8.8.0", "typeMigrationVersion": "8.0.0",
            "attributes": {"title": title, "name": name, "timeFieldName": tf,
                           "fields": "[]", "fieldAttrs": "{}", "fieldFormatMap": "{}",
                           "runtimeFieldMap": "{}", "sourceFilters": "[]", "typeMeta": "{}"},
            "references": []}


def col_date(field):
    return {"label": field, "dataType": "date", "operationType": "date_histogram",
            "sourceField": field, "isBucketed": True, "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True}}


def col_metric(op, field, label):
    return {"label": label, "customLabel": True, "dataType": "number", "operationType": op,
            "sourceField": field, "isBucketed": False, "scale": "ratio", "params": {}}


def col_terms(field, label, order_by, size=10, dtype="string", missing=False):
    """missing: rows without the field are kept (a "(missing value)" bucket), e.g. GeoIP
    fields, which only enriched deployments have."""
    return {"label": label, "customLabel": True, "dataType": dtype, "operationType": "terms",
            "sourceField": field, "isBucketed": True, "scale": "ordinal",
            "params": {"size": size, "orderBy": {"type": "column", "columnId": order_by},
                       "orderDirection": "desc", "otherBucket": False, "missingBucket": missing}}


def lens(i, title, dv, vis_type, columns, order, visualization):
    layer = "layer1"
    return {"id": i, "type": "lens", "managed": False, "coreMigrationVersion": "8.8.0",
            "typeMigrationVersion": "8.9.0",
            "attributes": {
                "title": title, "description": "", "visualizationType": vis_type,
                "state": {
                    "datasourceStates": {"formBased": {"layers": {layer: {
                        "columns": columns, "columnOrder": order, "incompleteColumns": {}}}}},
                    "visualization": visualization,
                    "query": {"query": "", "language": "kuery"}, "filters": [],
                    "adHocDataViews": {}, "internalReferences": []}},
            "references": [{"type": "index-pattern", "id": dv,
                            "name": "indexpattern-datasource-layer-" + layer}]}


def xy(series, split=True):
    layer = {"layerId": "layer1", "layerType": "data", "seriesType": series,
             "xAccessor": "x", "accessors": ["y"]}
    if split:
        layer["splitAccessor"] = "s"
    return {"legend": {"isVisible": True, "position": "right"}, "valueLabels": "hide",
            "preferredSeriesType": series, "layers": [layer]}


def col_count(label):
    return {"label": label, "customLabel": True, "dataType": "number", "operationType": "count",
            "sourceField": "___records___", "isBucketed": False, "scale": "ratio", "params": {}}


def table(cols):
    return {"layerId": "layer1", "layerType": "data",
            "columns": [{"columnId": c} for c in cols]}


objects = [data_view(*d) for d in DATA_VIEWS]

objects.append(lens("s4f-lens-protocol-bytes", "Bytes per protocol over time", "s4f-dv-protocols",
                    "lnsXY",
                    {"x": col_date("@timestamp"), "y": col_metric("sum", "bytes", "Bytes"),
                     "s": col_terms("protocol", "Protocol", "y", 5)},
                    ["s", "x", "y"], xy("area_stacked")))
objects.append(lens("s4f-lens-protocol-flows", "Flows per protocol over time", "s4f-dv-protocols",
                    "lnsXY",
                    {"x": col_date("@timestamp"), "y": col_metric("sum", "flows", "Flows"),
                     "s": col_terms("protocol", "Protocol", "y", 5)},
                    ["s", "x", "y"], xy("line")))
objects.append(lens("s4f-lens-scans-time", "Port scans over time", "s4f-dv-portscans", "lnsXY",
                    {"x": col_date("@timestamp"), "y": col_metric("sum", "flows_increment",
                                                                  "Scan flows"),
                     "s": col_terms("@type", "Scan kind", "y", 2)},
                    ["s", "x", "y"], xy("bar_stacked")))
# Country and AS columns (the collector's GeoIP enrichment, docs/operations.md): one value per
# address, so they split no row; rows without them stay.
objects.append(lens("s4f-lens-scanners", "Top scanners", "s4f-dv-portscans", "lnsDatatable",
                    {"a": col_terms("src_ip", "Source", "b", 20, "ip"),
                     "g": col_terms("src_country", "Country", "b", 1, missing=True),
                     "h": col_terms("src_as_org", "AS", "b", 1, missing=True),
                     "b": col_metric("max", "targets_total", "Targets"),
                     "c": col_metric("sum", "flows_increment", "Flows"),
                     "d": col_metric("max", "duration_in_milliseconds", "Duration (ms)")},
                    ["a", "g", "h", "b", "c", "d"], table(["a", "g", "h", "b", "c", "d"])))
objects.append(lens("s4f-lens-scans-by-origin", "Port scans by source country and AS",
                    "s4f-dv-portscans", "lnsDatatable",
                    {"a": col_terms("src_country", "Country", "c", 20),
                     "b": col_terms("src_as_org", "AS", "c", 10),
                     "c": col_metric("unique_count", "src_ip", "Scanners"),
                     "d": col_metric("sum", "flows_increment", "Flows")},
                    ["a", "b", "c", "d"], table(["a", "b", "c", "d"])))
objects.append(lens("s4f-lens-ssh-guessers", "Top SSH password guessers", "s4f-dv-ssh",
                    "lnsDatatable",
                    {"a": col_terms("src_ip", "Source", "b", 20, "ip"),
                     "b": col_metric("sum", "flows_increment", "Guesses"),
                     "c": col_metric("unique_count", "dst_ip", "Servers"),
                     "d": col_metric("average", "average_packet_count", "Packets per guess")},
                    ["a", "b", "c", "d"], table(["a", "b", "c", "d"])))
objects.append(lens("s4f-lens-ddos-victims", "DDoS victims", "s4f-dv-ddos", "lnsDatatable",
                    {"a": col_terms("dst_ip", "Victim", "c", 20, "ip"),
                     "b": col_metric("max", "shortratio", "In/out ratio (window)"),
                     "c": col_metric("max", "packets_in", "Packets in (window)"),
                     "d": col_metric("median", "longratio", "In/out ratio (long term)"),
                     "e": col_metric("max", "sources", "Sources")},
                    ["a", "b", "c", "d", "e"], table(["a", "b", "c", "d", "e"])))
objects.append(lens("s4f-lens-rules-time", "Rule results over time", "s4f-dv-rules", "lnsXY",
                    {"x": col_date("@timestamp"), "y": col_count("Results"),
                     "s": col_terms("@type", "Rule", "y", 10)},
                    ["s", "x", "y"], xy("bar_stacked")))
objects.append(lens("s4f-lens-pattern-finder", "pattern_finder: keys by configuration and "
                    "confidence", "s4f-dv-pattern-finder", "lnsDatatable",
                    {"a": col_terms("configuration", "Configuration", "c", 10),
                     "b": col_terms("confidence", "Confidence", "c", 5),
                     "c": col_count("Results"),
                     "d": col_metric("sum", "vectors", "Vectors")},
                    ["a", "b", "c", "d"], table(["a", "b", "c", "d"])))
objects.append(lens("s4f-lens-top-hosts", "Top hosts by bytes sent", "s4f-dv-hosts",
                    "lnsDatatable",
                    {"a": col_terms("host", "Host", "b", 20, "ip"),
                     "g": col_terms("host_country", "Country", "b", 1, missing=True),
                     "h": col_terms("host_as_org", "AS", "b", 1, missing=True),
                     "b": col_metric("sum", "bytes_out", "Bytes out"),
                     "c": col_metric("sum", "bytes_in", "Bytes in"),
                     "d": col_metric("sum", "flows_out", "Flows out"),
                     "e": col_metric("max", "peers_distinct", "Peers"),
                     "f": col_metric("max", "dst_ports_distinct", "Ports")},
                    ["a", "g", "h", "b", "c", "d", "e", "f"],
                    table(["a", "g", "h", "b", "c", "d", "e", "f"])))

# DNS: the resolvers and the reflection attacks as tables; the statistics as a saved search.
objects.append(lens("s4f-lens-open-resolvers", "Open DNS resolvers", "s4f-dv-open-resolvers",
                    "lnsDatatable",
                    {"a": col_terms("resolver_ip", "Resolver", "c", 20, "ip"),
                     "b": col_terms("resolved_query", "Query", "c", 10),
                     "c": col_metric("sum", "flows", "Answers")},
                    ["a", "b", "c"], table(["a", "b", "c"])))
objects.append(lens("s4f-lens-external-resolvers", "External DNS resolvers in use",
                    "s4f-dv-external-resolvers", "lnsDatatable",
                    {"a": col_terms("resolver_ip", "Resolver", "c", 20, "ip"),
                     "b": col_terms("src_ip", "Client", "c", 10, "ip"),
                     "c": col_metric("sum", "flows", "Connections")},
                    ["a", "b", "c"], table(["a", "b", "c"])))
objects.append(lens("s4f-lens-reflectdos", "DNS reflection attacks (victims)",
                    "s4f-dv-reflectdos", "lnsDatatable",
                    {"a": col_terms("src_ip", "Victim", "c", 20, "ip"),
                     "b": col_terms("dns_ip", "DNS server", "c", 10, "ip"),
                     "c": col_metric("sum", "data_sent", "Bytes sent"),
                     "d": col_metric("sum", "data_received", "Bytes received"),
                     "e": col_metric("sum", "outgoing_packets", "Packets sent")},
                    ["a", "b", "c", "d", "e"], table(["a", "b", "c", "d", "e"])))
objects.append({
    "id": "s4f-search-dns-statistics", "type": "search", "managed": False,
    "coreMigrationVersion": "8.8.0", "typeMigrationVersion": "8.0.0",
    "attributes": {
        "title": "DNS statistics (top lists per stat type)", "description": "",
        "columns": ["@stat_type", "data_array"], "sort": [["@timestamp", "desc"]],
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
            {"query": {"query": "", "language": "kuery"}, "filter": [],
             "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"},
            separators=(",", ":"))}},
    "references": [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index",
                    "type": "index-pattern", "id": "s4f-dv-dns"}]})


def dashboard(i, title, description, panels):
    panels_json, refs = [], []
    for n, (typ, ref, x, y, w, h) in enumerate(panels, 1):
        pid = "p%d" % n
        panels_json.append({"type": typ, "panelIndex": pid, "embeddableConfig": {},
                            "gridData": {"x": x, "y": y, "w": w, "h": h, "i": pid},
                            "panelRefName": "panel_" + pid})
        refs.append({"name": "%s:panel_%s" % (pid, pid), "type": typ, "id": ref})
    return {
        "id": i, "type": "dashboard", "managed": False,
        "coreMigrationVersion": "8.8.0", "typeMigrationVersion": "8.9.0",
        "attributes": {
            "title": title, "description": description,
            "panelsJSON": json.dumps(panels_json, separators=(",", ":")),
            "optionsJSON": json.dumps({"useMargins": True, "syncColors": False,
                                       "hidePanelTitles": False}, separators=(",", ":")),
            "timeRestore": True, "timeFrom": "now-24h", "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 60000},
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
                {"query": {"query": "", "language": "kuery"}, "filter": []},
                separators=(",", ":"))}},
        "references": refs}


objects.append(dashboard(
    "s4f-dashboard-overview", "Stream4Flow overview",
    "Protocol statistics over time, port scans and top hosts",
    [("lens", "s4f-lens-protocol-bytes", 0, 0, 24, 15),
     ("lens", "s4f-lens-protocol-flows", 24, 0, 24, 15),
     ("lens", "s4f-lens-scans-time", 0, 15, 24, 15), ("lens", "s4f-lens-scanners", 24, 15, 24, 15),
     ("lens", "s4f-lens-top-hosts", 0, 30, 48, 18),
     ("lens", "s4f-lens-scans-by-origin", 0, 48, 48, 15)]))
objects.append(dashboard(
    "s4f-dashboard-dns", "Stream4Flow DNS",
    "Open and external resolvers, DNS reflection attacks, DNS statistics",
    [("lens", "s4f-lens-open-resolvers", 0, 0, 24, 15),
     ("lens", "s4f-lens-external-resolvers", 24, 0, 24, 15),
     ("lens", "s4f-lens-reflectdos", 0, 15, 48, 15),
     ("search", "s4f-search-dns-statistics", 0, 30, 48, 20)]))

for o in objects:
    sys.stdout.write(json.dumps(o, separators=(",", ":"), sort_keys=True) + "\n")
