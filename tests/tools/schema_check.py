#!/usr/bin/env python3
"""A small JSON Schema validator for the subset of draft 2020-12 our schemas in docs/ use:
type, properties, required, additionalProperties, patternProperties, propertyNames, items,
enum, const, minimum, maximum, minLength, maxLength, pattern, format (ipv4, ipv6, ip,
date-time), anyOf, oneOf, allOf, $ref to #/$defs/... Unknown keywords are an error, so a
schema cannot silently use something this checker ignores.

  schema_check.py SCHEMA.json [FILE ...]    validate JSON documents, one per line (or stdin)

As a module: validate(schema, doc) returns a list of error strings.
"""
import ipaddress
import json
import re
import sys

KNOWN = {"$schema", "$id", "$defs", "$ref", "$comment", "title", "description", "examples",
         "type", "properties", "required", "additionalProperties", "patternProperties",
         "propertyNames", "items", "enum", "const", "minimum", "maximum", "minLength",
         "maxLength", "pattern", "format", "anyOf", "oneOf", "allOf", "minItems", "maxItems",
         "default"}

DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _type_ok(t, v):
    if t == "object":
        return isinstance(v, dict)
    if t == "array":
        return isinstance(v, list)
    if t == "string":
        return isinstance(v, str)
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    if t == "null":
        return v is None
    raise ValueError("unknown type " + t)


def _format_ok(fmt, v):
    try:
        if fmt == "ipv4":
            ipaddress.IPv4Address(v)
        elif fmt == "ipv6":
            ipaddress.IPv6Address(v)
        elif fmt == "ip":
            ipaddress.ip_address(v)
        elif fmt == "date-time":
            return bool(DATE_TIME.match(v))
        else:
            raise ValueError("unknown format " + fmt)
    except ipaddress.AddressValueError:
        return False
    except ValueError as e:
        if "unknown format" in str(e):
            raise
        return False
    return True


def validate(schema, doc, path="$", root=None):
    root = root if root is not None else schema
    errs = []
    if schema is True:
        return errs
    if schema is False:
        return [path + ": not allowed"]
    unknown = set(schema) - KNOWN
    if unknown:
        raise ValueError("schema uses unsupported keywords: %s" % sorted(unknown))
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError("unsupported $ref " + ref)
        errs += validate(root["$defs"][ref[8:]], doc, path, root)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(t, doc) for t in types):
            return errs + ["%s: expected %s, got %s" % (path, "/".join(types), json.dumps(doc)[:80])]
    if "enum" in schema and doc not in schema["enum"]:
        errs.append("%s: %r not in %r" % (path, doc, schema["enum"]))
    if "const" in schema and doc != schema["const"]:
        errs.append("%s: %r != %r" % (path, doc, schema["const"]))
    if isinstance(doc, (int, float)) and not isinstance(doc, bool):
        if "minimum" in schema and doc < schema["minimum"]:
            errs.append("%s: %r < %r" % (path, doc, schema["minimum"]))
        if "maximum" in schema and doc > schema["maximum"]:
            errs.append("%s: %r > %r" % (path, doc, schema["maximum"]))
    if isinstance(doc, str):
        if "minLength" in schema and len(doc) < schema["minLength"]:
            errs.append("%s: shorter than %d" % (path, schema["minLength"]))
        if "maxLength" in schema and len(doc) > schema["maxLength"]:
            errs.append("%s: longer than %d" % (path, schema["maxLength"]))
        if "pattern" in schema and not re.search(schema["pattern"], doc):
            errs.append("%s: %r does not match %s" % (path, doc, schema["pattern"]))
        if "format" in schema and not _format_ok(schema["format"], doc):
            errs.append("%s: %r is not a valid %s" % (path, doc, schema["format"]))
    if isinstance(doc, dict):
        for k in schema.get("required", []):
            if k not in doc:
                errs.append("%s: missing required %r" % (path, k))
        props = schema.get("properties", {})
        pats = schema.get("patternProperties", {})
        for k, v in doc.items():
            if "propertyNames" in schema:
                errs += validate(schema["propertyNames"], k, path + ".<key " + k + ">", root)
            matched = False
            if k in props:
                matched = True
                errs += validate(props[k], v, path + "." + k, root)
            for pat, sub in pats.items():
                if re.search(pat, k):
                    matched = True
                    errs += validate(sub, v, path + "." + k, root)
            if not matched and "additionalProperties" in schema:
                errs += validate(schema["additionalProperties"], v, path + "." + k, root)
    if isinstance(doc, list):
        if "minItems" in schema and len(doc) < schema["minItems"]:
            errs.append("%s: fewer than %d items" % (path, schema["minItems"]))
        if "maxItems" in schema and len(doc) > schema["maxItems"]:
            errs.append("%s: more than %d items" % (path, schema["maxItems"]))
        if "items" in schema:
            for i, v in enumerate(doc):
                errs += validate(schema["items"], v, "%s[%d]" % (path, i), root)
    for sub in schema.get("allOf", []):
        errs += validate(sub, doc, path, root)
    if "anyOf" in schema and not any(not validate(s, doc, path, root) for s in schema["anyOf"]):
        errs.append("%s: matches none of anyOf" % path)
    if "oneOf" in schema and sum(1 for s in schema["oneOf"] if not validate(s, doc, path, root)) != 1:
        errs.append("%s: does not match exactly one of oneOf" % path)
    return errs


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    files = sys.argv[2:] or ["-"]
    bad = total = 0
    for name in files:
        stream = sys.stdin if name == "-" else open(name)
        for n, line in enumerate(stream, 1):
            line = line.strip()
            if not line:
                continue
            total += 1
            try:
                doc = json.loads(line)
            except ValueError as e:
                bad += 1
                print("%s:%d: not JSON: %s" % (name, n, e))
                continue
            errs = validate(schema, doc)
            if errs:
                bad += 1
                if bad <= 20:
                    print("%s:%d: %s" % (name, n, "; ".join(errs[:5])))
    print("%d documents, %d invalid" % (total, bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
