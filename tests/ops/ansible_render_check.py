#!/usr/bin/env python3
"""Checks the Ansible templates rendered by ansible_render.sh: every listener of the shipped
defaults is authenticated (SASL_SSL, mutual TLS, Elasticsearch security with TLS, dashboard TLS)
or on loopback.

    ansible_render_check.py secure DIR...   shipped defaults (one sub-folder per host)
    ansible_render_check.py optout DIR...   Elasticsearch security off + loopback PLAINTEXT Kafka
"""
import ipaddress
import os
import re
import sys

import yaml

failures = []


def fail(host, what):
    failures.append("%s: %s" % (host, what))


def is_loopback(host):
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name or an empty host (every interface)


def split_hostport(s):
    s = str(s)
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
        return host, port
    host, _, port = s.rpartition(":")
    return host, port


def properties(path):
    props = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            k, _, v = line.partition("=")
            props[k.strip()] = v.strip()  # later keys win, as in java.util.Properties
    return props


def check_kafka(host, d, optout):
    p = properties(os.path.join(d, "server.properties"))
    protomap = dict(x.split(":", 1) for x in p["listener.security.protocol.map"].split(","))
    for listener in p["listeners"].split(","):
        m = re.match(r"^([A-Za-z_]+)://(.*)$", listener)
        if not m:
            fail(host, "cannot parse Kafka listener %r" % listener)
            continue
        name, hostport = m.group(1), m.group(2)
        proto = protomap.get(name)
        lhost, _ = split_hostport(hostport)
        if proto == "SASL_SSL":
            continue
        if proto == "SSL":
            if p.get("listener.name.%s.ssl.client.auth" % name.lower()) != "required":
                fail(host, "Kafka SSL listener %s without client certificates" % name)
            continue
        if not is_loopback(lhost):
            fail(host, "Kafka listener %s (%s) is neither authenticated nor on loopback"
                 % (listener, proto))
    for k in ("sasl.enabled.mechanisms",):
        if p.get(k) != "SCRAM-SHA-512":
            fail(host, "Kafka %s = %r" % (k, p.get(k)))
    if "StandardAuthorizer" not in p.get("authorizer.class.name", ""):
        fail(host, "Kafka runs without an authorizer")
    if p.get("allow.everyone.if.no.acl.found", "false") != "false":
        fail(host, "Kafka allows everyone when no ACL is found")
    if "ANONYMOUS" in p.get("super.users", ""):
        fail(host, "Kafka makes the anonymous principal a super user")
    if optout and "PLAINTEXT" not in p["listeners"]:
        fail(host, "the loopback PLAINTEXT listener asked for is missing")
    a = properties(os.path.join(d, "admin.properties"))
    if a.get("security.protocol") != "SASL_SSL":
        fail(host, "admin.properties does not use SASL_SSL")


def check_es(host, d, optout):
    with open(os.path.join(d, "elasticsearch.yml")) as f:
        es = yaml.safe_load(f)
    secured = es.get("xpack.security.enabled") is True
    if secured:
        if not (es.get("xpack.security.http.ssl") or {}).get("enabled"):
            fail(host, "Elasticsearch security on without HTTPS")
        if not (es.get("xpack.security.transport.ssl") or {}).get("enabled"):
            fail(host, "Elasticsearch security on without transport TLS")
    elif not is_loopback(str(es.get("network.host", ""))):
        fail(host, "Elasticsearch without security listens on %r" % es.get("network.host"))
    if optout and secured:
        fail(host, "elasticsearch_security=false did not turn security off")
    if not optout and not secured:
        fail(host, "Elasticsearch security is off by default")


def check_kibana(host, d):
    with open(os.path.join(d, "kibana.yml")) as f:
        kb = yaml.safe_load(f)
    if not is_loopback(str(kb.get("server.host", ""))) and not kb.get("server.ssl.enabled"):
        fail(host, "Kibana on %r without TLS" % kb.get("server.host"))


def check_stream4flow(host, d, optout):
    with open(os.path.join(d, "stream4flow.yml")) as f:
        conf = yaml.safe_load(f)
    k = conf.get("kafka") or {}
    if k.get("security.protocol") != "SASL_SSL" or k.get("sasl.mechanisms") != "SCRAM-SHA-512":
        fail(host, "the daemons' Kafka settings are not SASL_SSL/SCRAM-SHA-512: %r" % k)
    if not k.get("ssl.ca.location"):
        fail(host, "no ssl.ca.location for Kafka")
    for daemon, user in (("collector", "s4f-collector"), ("sink", "s4f-sink"),
                         ("worker", "s4f-worker")):
        dk = (conf.get(daemon) or {}).get("kafka") or {}
        if dk.get("sasl.username") not in (None, user):
            fail(host, "%s authenticates as %r" % (daemon, dk.get("sasl.username")))
    for daemon in ("collector", "sink", "web"):
        ml = (conf.get(daemon) or {}).get("metrics_listen")
        if ml is None or not is_loopback(split_hostport(ml)[0]):
            fail(host, "%s.metrics_listen = %r (unauthenticated, must be loopback)" % (daemon, ml))
    web = conf.get("web") or {}
    whost, _ = split_hostport(web.get("listen", "127.0.0.1:8080"))
    if not is_loopback(whost) and not (web.get("tls_cert") and web.get("tls_key")):
        fail(host, "the dashboard listens on %r without TLS" % web.get("listen"))
    if web.get("allow_insecure_listen"):
        fail(host, "web.allow_insecure_listen is on by default")
    es = conf.get("elasticsearch") or {}
    if not optout:
        for url in es.get("urls", []):
            if not url.startswith("https://"):
                fail(host, "Elasticsearch URL %s is not https" % url)
        if not es.get("ca_file"):
            fail(host, "no elasticsearch.ca_file")


def main():
    mode, dirs = sys.argv[1], sys.argv[2:]
    optout = mode == "optout"
    hosts = 0
    for top in dirs:
        for host in sorted(os.listdir(top)):
            d = os.path.join(top, host)
            if os.path.exists(os.path.join(d, "server.properties")):
                check_kafka(host, d, optout)
            if os.path.exists(os.path.join(d, "elasticsearch.yml")):
                check_es(host, d, optout)
                check_kibana(host, d)
            check_stream4flow(host, d, optout)
            hosts += 1
    if hosts == 0:
        failures.append("nothing rendered")
    for f in failures:
        print("FAIL: " + f)
    if failures:
        return 1
    print("%s: %d rendered hosts checked" % (mode, hosts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
