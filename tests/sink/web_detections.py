#!/usr/bin/env python3
"""Starts s4f-web on an index prefix the sink filled (tests/web/harness.py), logs in and checks
that /api/detections answers 200 with the expected number of detections.

    web_detections.py --binary S4F_WEB --prefix PREFIX --expect N

Elasticsearch comes from S4F_ES_URL, like the web tests. Exit status 0 when the answer is right.
Used by test_hostile.sh (issue 13: one hostile result must not break the Detections page)."""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "web"))
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--expect", type=int, required=True)
    a = ap.parse_args()
    web = harness.Web(a.binary, a.prefix, extra_yaml="  cache_ttl: 0\n")
    ok = False
    try:
        c = harness.Client(web.url)
        st, _, _ = c.login("alice")
        if st != 200:
            raise AssertionError("login: HTTP %s" % st)
        for path in ("/api/detections?range=24h", "/api/detections?range=24h&address=10.0.0.0/8",
                     "/api/detections?range=24h&type=portscan_vertical"):
            st, _, j = c.json("GET", path)
            if st != 200:
                raise AssertionError("%s: HTTP %s %s" % (path, st, j))
            print("%s: 200, total %s, types %s" % (path, j["total"], j["types"]))
        st, _, j = c.json("GET", "/api/detections?range=24h")
        if j["total"] != a.expect:
            raise AssertionError("detections: total %s, want %s" % (j["total"], a.expect))
        ok = True
    finally:
        rc = web.stop()
        if not ok or rc != 0:
            print(web.logtext()[-3000:])
    sys.exit(0 if ok and rc == 0 else 1)


if __name__ == "__main__":
    main()
