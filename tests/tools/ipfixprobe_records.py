#!/usr/bin/env python3
"""Turns ipfixprobe's exported field values (tests/functional outputs: CSV, schema on the last
line; /work/shared/testdata/ipfixprobe/outputs/) into flow records in the collector's JSON
form, with the keys of the element files (ipfixprobe's own PEN 8057 names, the Flowmon names
it reuses, RFC 5103 reverse counters). s4f-ipfix-export sends them (or, with --check, decodes
them back and compares every value).

  ipfixprobe_records.py OUTPUT_FILE... > records.jsonl
"""
import csv, datetime, json, sys

KEYS = {
    "SRC_IP": None, "DST_IP": None,  # address family decides the key
    "BYTES": "ipfix.octetDeltaCount", "BYTES_REV": "ipfix.reverseOctetDeltaCount",
    "PACKETS": "ipfix.packetDeltaCount", "PACKETS_REV": "ipfix.reversePacketDeltaCount",
    "SRC_PORT": "ipfix.sourceTransportPort", "DST_PORT": "ipfix.destinationTransportPort",
    "PROTOCOL": "ipfix.protocolIdentifier", "TCP_FLAGS": "ipfix.tcpControlBits",
    "TIME_FIRST": "ipfix.flowStartMilliseconds", "TIME_LAST": "ipfix.flowEndMilliseconds",
    "HTTP_REQUEST_HOST": "ipfix.HTTPRequestHost", "HTTP_REQUEST_URL": "ipfix.HTTPRequestURL",
    "HTTP_REQUEST_AGENT": "ipfix.HTTPRequestUserAgent",
    "HTTP_REQUEST_REFERER": "ipfix.HTTPRequestReferer",
    "HTTP_RESPONSE_CONTENT_TYPE": "ipfix.HTTPResponseContentType",
    "HTTP_RESPONSE_STATUS_CODE": "ipfix.HTTPResponseStatusCode",
    "HTTP_REQUEST_METHOD": "ipfix.HTTP_METHOD", "HTTP_RESPONSE_SERVER": "ipfix.HTTP_SERVER",
    "HTTP_RESPONSE_SET_COOKIE_NAMES": "ipfix.HTTP_SET_COOKIE_NAMES",
    "TLS_VERSION": "ipfix.TLSVersion", "TLS_ALPN": "ipfix.TLSALPN", "TLS_JA3": "ipfix.TLSJA3",
    "TLS_JA4": "ipfix.TLS_JA4", "TLS_SNI": "ipfix.TLS_SNI",
}
for n in ("DNS_RCODE", "DNS_NAME", "DNS_QTYPE", "DNS_CLASS", "DNS_RR_TTL", "DNS_RLENGTH",
          "DNS_RDATA", "DNS_PSIZE", "DNS_DO", "DNS_ID", "DNS_ATYPE", "DNS_ANSWERS"):
    KEYS[n] = "ipfix." + n


def ms(text):
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc)
    return (t - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) \
        // datetime.timedelta(milliseconds=1)


def records(path):
    rows = list(csv.reader(open(path, newline="")))
    schema = [c.split(" ", 1) for c in rows[-1]]
    for row in rows[:-1]:
        if not row:
            continue
        r = {"@type": "ipfix.entry"}
        for (typ, name), v in zip(schema, row):
            key = KEYS.get(name, "-")
            if key == "-" or v == "":
                continue
            if name in ("SRC_IP", "DST_IP"):
                fam = "IPv6" if ":" in v else "IPv4"
                key = "ipfix.%s%sAddress" % ("source" if name == "SRC_IP" else "destination", fam)
                r[key] = v
            elif typ == "time":
                r[key] = ms(v)
            elif typ == "bytes":
                r[key] = "0x" + v.lower()
            elif typ == "string":
                r[key] = v
            else:
                r[key] = int(v)
        yield r


def main():
    for path in sys.argv[1:]:
        for r in records(path):
            print(json.dumps(r, separators=(",", ":")))


if __name__ == "__main__":
    main()
