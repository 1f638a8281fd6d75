#!/usr/bin/env python3
"""A stand-in for one analysis worker's metrics endpoint, for the dashboard's tests: /metrics
with counters that grow with time (records consumed, results produced), one consumer group's
lag and one non-zero error counter; /health answers ok. Prints its port on the first line of
standard output, then serves until killed (the browser test kills it to see the System page
name the stopped stage).

    fake_component.py [--analysis ports_scan]"""
import argparse
import http.server
import sys
import time

START = time.monotonic()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--analysis", default="ports_scan")
    a = ap.parse_args()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            t = time.monotonic() - START
            if self.path == "/metrics":
                lab = 'analysis="%s"' % a.analysis
                body = ("# TYPE s4f_worker_kafka_consumed_total counter\n"
                        "s4f_worker_kafka_consumed_total %d\n"
                        "s4f_worker_results_total{%s} %d\n"
                        "s4f_worker_flows_total{%s} %d\n"
                        's4f_worker_kafka_consumer_lag_messages{group="s4f-%s"} 0\n'
                        "s4f_worker_records_malformed_total{%s} 3\n"
                        % (int(t * 200), lab, int(t * 2), lab, int(t * 200), a.analysis, lab))
                ctype = "text/plain; version=0.0.4"
            elif self.path == "/health":
                body, ctype = '{"status":"ok"}', "application/json"
            else:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
