#!/usr/bin/env python3
"""The real s4f-collector on the secured Kafka path: configured as the Ansible role writes it
(kafka: SASL_SSL, SCRAM-SHA-512, the CA; collector.kafka: its own principal), it turns one
NetFlow v5 datagram into a record on ipfix.entry through the stack's SASL_SSL listener, which is
then read back (through the loopback PLAINTEXT listener of the test stack).

Needs S4F_KAFKA_SASL_BOOTSTRAP and S4F_KAFKA_SECRETS (`stack.sh env` with S4F_KAFKA_SASL_PORT);
exits 77 (skipped) without them."""
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import s4ftest as t  # noqa: E402


def netflow_v5(octets, src_port):
    now = int(time.time())
    header = struct.pack("!HHIIIIBBH", 5, 1, 100000, now, 0, 1, 0, 0, 0)
    record = struct.pack("!4s4s4sHHIIIIHHBBBBHHBBH",
                         socket.inet_aton("192.0.2.10"), socket.inet_aton("198.51.100.20"),
                         socket.inet_aton("0.0.0.0"), 1, 2, 10, octets, 99000, 99900,
                         src_port, 443, 0, 0x18, 6, 0, 0, 0, 24, 24, 0)
    return header + record


def main():
    sasl = os.environ.get("S4F_KAFKA_SASL_BOOTSTRAP")
    secrets = os.environ.get("S4F_KAFKA_SECRETS")
    if not sasl or not secrets:
        print("SKIP: S4F_KAFKA_SASL_BOOTSTRAP and S4F_KAFKA_SECRETS not set")
        return 77
    with open(os.path.join(secrets, "s4f-collector.password")) as f:
        password = f.read().strip()
    wd = t.workdir("s4f-collector-secured-")
    port = t.free_port()
    octets = random.randint(10**9, 2 * 10**9)
    conf = t.write(os.path.join(wd, "s4f.yml"), "\n".join([
        "kafka:",
        "  bootstrap.servers: " + sasl,
        "  security.protocol: SASL_SSL",
        "  sasl.mechanisms: SCRAM-SHA-512",
        "  ssl.ca.location: " + os.path.join(secrets, "ca.crt"),
        "collector:",
        "  listen: 127.0.0.1:%d" % port,
        "  tcp_listen: ''",
        "  sflow_listen: ''",
        "  metrics_listen: 127.0.0.1:0",
        "  topic: ipfix.entry",
        "  kafka:",
        "    sasl.username: s4f-collector",
        "    sasl.password: " + password,
        ""]))
    col = t.Proc("collector", [os.path.join(t.BUILD, "collector", "s4f-collector"), "-c", conf], wd)
    try:
        col.wait_log("receiving on udp")
        mport = t.metrics_port_from_log(col)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(netflow_v5(octets, 40000 + random.randint(0, 9999)), ("127.0.0.1", port))
        s.close()

        def delivered():
            m = t.metrics(mport)
            return m.get("s4f_collector_kafka_delivered_total", 0) >= 1 and m
        m = t.wait_for(delivered, 60, "the collector's record to be acknowledged over SASL_SSL")
        failed = {k: v for k, v in m.items() if "kafka" in k and "fail" in k and v}
        if failed:
            raise t.TestFailure("Kafka failures counted: %s" % failed)
        lines = t.consume("ipfix.entry", expect=1, idle_ms=2000, timeout_ms=60000)
        hits = [l for l in lines if str(octets) in l]
        if len(hits) != 1:
            raise t.TestFailure("record with %d octets found %d times among %d records" % (
                octets, len(hits), len(lines)))
        print("PASS: datagram -> s4f-collector -> SASL_SSL Kafka (s4f-collector) -> %s" % hits[0])
        return 0
    except t.TestFailure as e:
        print("FAIL: %s\n--- collector log ---\n%s" % (e, col.text()[-3000:]))
        return 1
    finally:
        col.stop()


if __name__ == "__main__":
    sys.exit(main())
