#!/usr/bin/env python3
"""Checks the Kibana saved objects against the sink's index templates (no Kibana needed).

  check_kibana.py KIBANA_DIR TEMPLATES_DIR

Every *.ndjson line must be a saved object (id, type, attributes); every reference must name an
object of the files; each data view's time field and every field a Lens column uses must exist in
the templates that apply to the data view's pattern, with a type fit for the operation
(date_histogram on dates, sums and maxima on numbers, terms on keywords, ips and numbers).
"""
import fnmatch
import glob
import json
import os
import sys

PREFIX = "stream4flow"
NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"}
FIT = {
    "date_histogram": {"date", "date_nanos"},
    "sum": NUMERIC, "average": NUMERIC, "max": NUMERIC, "min": NUMERIC, "median": NUMERIC,
    "percentile": NUMERIC, "last_value": None, "unique_count": None, "count": None,
    "terms": {"keyword", "ip"} | NUMERIC,
}


def fields_of(props, path, out):
    for name, spec in props.items():
        full = path + name
        if "properties" in spec:
            fields_of(spec["properties"], full + ".", out)
        if "type" in spec:
            out[full] = spec["type"]


def load_templates(tdir):
    comps, idx = {}, []
    for f in sorted(glob.glob(os.path.join(tdir, "*.json"))):
        base = os.path.basename(f)[:-5]
        with open(f) as fh:
            t = json.loads(fh.read().replace("{{prefix}}", PREFIX))
        if base.startswith("component-"):
            fl = {}
            fields_of(t["template"].get("mappings", {}).get("properties", {}), "", fl)
            comps[PREFIX + "-" + base[len("component-"):]] = fl
        else:
            idx.append(t)
    templates = []
    for t in idx:
        fl = {}
        for c in t.get("composed_of", []):
            fl.update(comps[c])
        fields_of(t.get("template", {}).get("mappings", {}).get("properties", {}), "", fl)
        templates.append((t["index_patterns"], t.get("priority", 0), fl))
    return templates


def fields_for(pattern, templates):
    """Union of the fields of the indices a data view pattern covers: for each template, a
    sample index name it would create; the template applies if the data view matches it and no
    higher-priority template claims that sample."""
    fl = {}
    matched = False
    for pats, prio, tf in templates:
        for p in pats:
            sample = p.replace("*", "x-2026.11.27")
            best = max((pr for ps, pr, _ in templates for q in ps if fnmatch.fnmatch(sample, q)))
            if prio == best and fnmatch.fnmatch(sample, pattern):
                fl.update(tf)
                matched = True
    return fl if matched else None


def main():
    kdir, tdir = sys.argv[1], sys.argv[2]
    templates = load_templates(tdir)
    objects = {}
    errors = []
    files = sorted(glob.glob(os.path.join(kdir, "*.ndjson")))
    if not files:
        errors.append("no .ndjson file in %s" % kdir)
    for f in files:
        with open(f) as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    o = json.loads(line)
                except ValueError as e:
                    errors.append("%s:%d: not JSON: %s" % (f, n, e))
                    continue
                for k in ("id", "type", "attributes", "references"):
                    if k not in o:
                        errors.append("%s:%d: no %s" % (f, n, k))
                objects[(o.get("type"), o.get("id"))] = o
    dv_fields = {}
    for (typ, oid), o in objects.items():
        for r in o.get("references", []):
            if (r["type"], r["id"]) not in objects:
                errors.append("%s %s refers to missing %s %s" % (typ, oid, r["type"], r["id"]))
        if typ == "index-pattern":
            a = o["attributes"]
            fl = fields_for(a["title"], templates)
            if fl is None:
                errors.append("data view %s (%s) matches no template" % (oid, a["title"]))
                continue
            dv_fields[oid] = fl
            tf = a.get("timeFieldName")
            if tf and fl.get(tf) not in FIT["date_histogram"]:
                errors.append("data view %s: time field %s is %s" % (oid, tf, fl.get(tf)))
        if typ == "dashboard":
            panels = json.loads(o["attributes"]["panelsJSON"])
            names = {r["name"] for r in o["references"]}
            for p in panels:
                want = "%s:%s" % (p["panelIndex"], p["panelRefName"])
                if want not in names:
                    errors.append("dashboard %s: panel %s has no reference" % (oid, want))
    checked = 0
    for (typ, oid), o in objects.items():
        if typ != "lens":
            continue
        refs = {r["name"]: r["id"] for r in o["references"]}
        layers = o["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        for lid, layer in layers.items():
            dv = refs.get("indexpattern-datasource-layer-" + lid)
            fl = dv_fields.get(dv)
            if fl is None:
                errors.append("lens %s layer %s: unknown data view %s" % (oid, lid, dv))
                continue
            for cid, col in layer["columns"].items():
                field = col.get("sourceField")
                if not field or field == "___records___":
                    continue
                checked += 1
                typ_ = fl.get(field)
                if typ_ is None:
                    errors.append("lens %s: field %s not in the templates of %s" % (oid, field, dv))
                    continue
                fit = FIT.get(col["operationType"], None)
                if fit is not None and typ_ not in fit:
                    errors.append("lens %s: %s on %s field %s" %
                                  (oid, col["operationType"], typ_, field))
    for e in errors:
        print("error:", e, file=sys.stderr)
    print("kibana: %d objects, %d data views, %d field uses checked, %d errors" %
          (len(objects), len(dv_fields), checked, len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
