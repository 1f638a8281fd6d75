#!/usr/bin/env python3
"""Browser test of s4f-web: seeds 24 h of results under a private prefix, starts s4f-web and
runs browser.cjs (playwright-core + Debian's chromium). Screenshots go to --output.

    browser_test.py --binary build/web/s4f-web --node-modules build/web/npm/node_modules \
                    --output build/tests/output/web"""
import argparse
import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--node-modules", required=True)
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    chromium = os.environ.get("S4F_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium) or not shutil.which("node"):
        print("needs node and %s (apt-get install chromium nodejs)" % chromium)
        sys.exit(1)
    prefix = "s4ftest-web-%d-%d" % (os.getpid(), int(time.time()))
    web = fresh = None
    rc = 1
    # A stand-in worker's metrics endpoint, killed by browser.cjs to see the System page say so.
    fake = subprocess.Popen([sys.executable, os.path.join(harness.HERE, "fake_component.py"),
                             "--analysis", "ports_scan"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(fake.stdout.readline())
        harness.seed(prefix, hours=24)
        web = harness.Web(a.binary, prefix, components="dead=http://127.0.0.1:9, "
                          "ports_scan=http://127.0.0.1:%d" % port,
                          extra_yaml="  local_networks: [10.0.0.0/24, 2001:db8::/32]\n")
        # A fresh install: no results at all under this prefix until browser.cjs indexes one.
        fresh = harness.Web(a.binary, prefix + "-fresh")
        env = dict(os.environ, NODE_PATH=a.node_modules, S4F_WEB_URL=web.url, S4F_WEB_USER="alice",
                   S4F_FRESH_URL=fresh.url, S4F_FRESH_PREFIX=prefix + "-fresh",
                   S4F_WEB_PASSWORD=harness.PASSWORD, S4F_ES_URL=harness.ES, S4F_PREFIX=prefix,
                   S4F_OUT=a.output, S4F_FAKE_WORKER_PID=str(fake.pid))
        rc = subprocess.run(["node", os.path.join(harness.HERE, "browser.cjs")], env=env,
                            timeout=240).returncode
    finally:
        if fake.poll() is None:
            fake.kill()
        fake.wait()
        if web:
            code = web.stop()
            log = web.logtext()
            if rc != 0 or code != 0:
                print(log[-3000:])
            if code != 0:
                rc = 1
        if fresh and fresh.stop() != 0:
            print(fresh.logtext()[-3000:])
            rc = 1
        harness.unseed(prefix)
        harness.unseed(prefix + "-fresh")
    sys.exit(rc)


if __name__ == "__main__":
    main()
