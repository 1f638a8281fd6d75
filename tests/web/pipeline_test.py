#!/usr/bin/env python3
"""The System page's pipeline over a real worker: s4f-web reads a running s4f-worker's metrics
(its kind, its consumer group) and, once the worker is killed with SIGKILL, says in words that
this worker is not running. Needs Kafka at S4F_KAFKA_BOOTSTRAP and Elasticsearch at S4F_ES_URL
(only for s4f-web's start).

    pipeline_test.py --binary build/web/s4f-web --worker build/workers/s4f-worker"""
import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import harness  # noqa: E402
import s4ftest  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--worker", required=True)
    a = ap.parse_args()
    wd = s4ftest.workdir("s4f-web-pipeline-")
    inp, out = s4ftest.unique("s4f-webpl-in"), s4ftest.unique("s4f-webpl-out")
    worker = web = None
    ok = False
    try:
        for t in (inp, out):
            s4ftest.create_topic(t, 2)
        cfg = s4ftest.write(os.path.join(wd, "worker.yml"), """kafka:
  bootstrap.servers: "%s"
worker:
  log_level: info
  metrics_listen: 127.0.0.1:0
  group_id: %s
  input_topic: %s
  analyses:
    protocols_statistics:
      output_topic: %s
""" % (s4ftest.KAFKA, s4ftest.unique("s4f-webpl"), inp, out))
        worker = s4ftest.Proc("worker", [a.worker, "-c", cfg], wd)
        port = s4ftest.metrics_port_from_log(worker)
        web = harness.Web(a.binary, s4ftest.unique("s4ftest-webpl"),
                          components="protocols_statistics=http://127.0.0.1:%d" % port)
        c = harness.Client(web.url)
        st, _, _ = c.login("alice")
        if st != 200:
            raise s4ftest.TestFailure("login: %s" % st)

        def stage():
            st, _, j = c.json("GET", "/api/pipeline")
            s = [x for x in j["stages"] if x["name"] == "protocols_statistics"] if st == 200 else []
            return s[0] if s else None

        s = s4ftest.wait_for(lambda: (lambda x: x if x and x["up"] and x["kind"] == "worker" and
                                      x["lags"] else None)(stage()),
                             60, "the running worker's stage with its consumer group's lag")
        print("running worker: status %s, lags %s" % (s["status"], s["lags"]))
        worker.kill9()

        def said():
            st, _, j = c.json("GET", "/api/pipeline")
            return st == 200 and [p["text"] for p in j["problems"]
                                  if "worker protocols_statistics is not running" in p["text"]]
        words = s4ftest.wait_for(said, 30, "the pipeline to name the killed worker")
        s = stage()
        if s["status"] != "down":
            raise s4ftest.TestFailure("the killed worker's stage is %s" % s["status"])
        print("after kill -9: %s" % words[0])
        ok = True
    finally:
        if worker and worker.alive():
            worker.stop()
        if web:
            rc = web.stop()
            if rc != 0 or not ok:
                print(web.logtext()[-3000:])
            ok = ok and rc == 0
        for t in (inp, out):
            s4ftest.delete_topic(t)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
