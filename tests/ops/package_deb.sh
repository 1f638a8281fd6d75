#!/usr/bin/env bash
# ops_package_deb: builds the .deb from this build tree (cpack), unpacks it into a scratch root
# and checks what an operator gets: the files, a shipped configuration every daemon accepts with
# --check-config, units that `systemd-analyze verify` passes against that root (binaries, man
# pages and all), and maintainer scripts that parse.
#
#   package_deb.sh BUILD_DIR INSTALL_PREFIX SYSCONFDIR
set -euo pipefail

BUILD=$1
PREFIX=$2
CONFDIR=$3/stream4flow
SRC=${S4F_SOURCE_DIR:?}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
for tool in cpack dpkg-deb systemd-analyze python3; do
	command -v "$tool" >/dev/null || fail "$tool not found (provisioning/install-deps.sh)"
done
[[ -f $BUILD/CPackConfig.cmake ]] ||
	fail "$BUILD/CPackConfig.cmake missing: the top-level CMakeLists.txt must include(cmake/packaging.cmake)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/s4f-ops-deb.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

echo "== cpack"
cpack --config "$BUILD/CPackConfig.cmake" -B "$TMP/out" >"$TMP/cpack.log" 2>&1 || {
	cat "$TMP/cpack.log" >&2
	fail "cpack failed"
}
debs=("$TMP"/out/stream4flow_*.deb)
[[ -f ${debs[0]} ]] || fail "no stream4flow_*.deb produced"
DEB=${debs[0]}
echo "package: $(basename "$DEB")"

echo "== control"
dpkg-deb -I "$DEB" >"$TMP/info"
for dep in librdkafka1 libfixbuf9 libmaxminddb0 libjansson4 libcurl4 libmicrohttpd12 libyaml-0-2; do
	grep -q "^ Depends:.*\b$dep\b" "$TMP/info" || fail "Depends lacks $dep"
done
dpkg-deb -e "$DEB" "$TMP/control"
grep -qxF "$CONFDIR/stream4flow.yml" "$TMP/control/conffiles" || fail "stream4flow.yml is not a conffile"
for s in postinst prerm postrm; do
	[[ -x $TMP/control/$s ]] || fail "$s missing or not executable"
	sh -n "$TMP/control/$s" || fail "$s does not parse"
done

echo "== contents"
ROOT=$TMP/root
dpkg-deb -x "$DEB" "$ROOT"
want=(
	"$PREFIX/bin/s4f-collector" "$PREFIX/bin/s4f-worker" "$PREFIX/bin/s4f-sink" "$PREFIX/bin/s4f-web"
	"$PREFIX/bin/s4f-alert"
	"$CONFDIR/stream4flow.yml"
	"$CONFDIR/worker-protocols_statistics.env" "$CONFDIR/worker-ports_scan.env"
	"$CONFDIR/worker-host_stats.env"
	"$PREFIX/lib/systemd/system/s4f-collector.service"
	"$PREFIX/lib/systemd/system/s4f-worker@.service"
	"$PREFIX/lib/systemd/system/s4f-sink.service"
	"$PREFIX/lib/systemd/system/s4f-web.service"
	"$PREFIX/lib/systemd/system/s4f-alert.service"
	"$PREFIX/lib/systemd/system/stream4flow.target"
	"$PREFIX/lib/sysusers.d/stream4flow.conf"
	"$PREFIX/share/stream4flow/elements/flowmon.xml" "$PREFIX/share/stream4flow/elements/ipfixprobe.xml"
	"$PREFIX/share/stream4flow/schemas/ipfix-entry.schema.json"
	"$PREFIX/share/stream4flow/prometheus/stream4flow-alerts.yml"
	"$PREFIX/share/man/man8/s4f-collector.8" "$PREFIX/share/man/man8/s4f-worker.8"
	"$PREFIX/share/man/man8/s4f-sink.8" "$PREFIX/share/man/man8/s4f-web.8"
	"$PREFIX/share/man/man8/s4f-alert.8"
	"$PREFIX/share/man/man5/stream4flow.yml.5"
	"$PREFIX/share/doc/stream4flow/operations.md"
	"$PREFIX/share/doc/stream4flow/configuration.md"
)
for f in "${want[@]}"; do
	[[ -f $ROOT$f ]] || fail "package lacks $f"
done
for b in collector worker sink web; do
	[[ -x $ROOT$PREFIX/bin/s4f-$b ]] || fail "s4f-$b is not executable"
done
# Every JSON Schema in docs/ travels with the package.
for s in "$SRC"/docs/schemas/*.json; do
	[[ -f $s ]] || continue
	[[ -f $ROOT$PREFIX/share/stream4flow/schemas/$(basename "$s") ]] || fail "schema $(basename "$s") not packaged"
done
# Nothing outside the prefix and the configuration directory.
stray=$(dpkg-deb -c "$DEB" | awk '{print substr($6, 2)}' |
	grep -v -e "^$PREFIX/" -e "^$CONFDIR/" -e '/$' || true)
[[ -z $stray ]] || fail "files outside $PREFIX and $CONFDIR: $stray"

echo "== shipped configuration"
CONF=$ROOT$CONFDIR/stream4flow.yml
python3 - "$CONF" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for section in ("kafka", "elasticsearch", "collector", "worker", "sink", "web"):
    assert isinstance(doc.get(section), dict), "section %s missing" % section
assert doc["kafka"].get("bootstrap.servers"), "kafka.bootstrap.servers missing"
assert set(doc["worker"]["analyses"]) >= {"protocols_statistics", "ports_scan", "host_stats"}
PY
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
for b in collector sink web; do
	"$ROOT$PREFIX/bin/s4f-$b" --check-config "$CONF" || fail "s4f-$b refuses the shipped configuration"
done
for a in protocols_statistics ports_scan host_stats; do
	"$ROOT$PREFIX/bin/s4f-worker" --check-config "$CONF" --analysis "$a" ||
		fail "s4f-worker --analysis $a refuses the shipped configuration"
done
# Every option (a key with a value; map headers aside) has its comment right above it.
python3 - "$CONF" <<'PY'
import re, sys
prev = ""
for n, line in enumerate(open(sys.argv[1]), 1):
    m = re.match(r"^\s+([\w.]+): .*$", line)
    if m and not line.lstrip().startswith("#"):
        if not (prev.lstrip().startswith("#") or prev.rstrip().endswith(":")):
            sys.exit("line %d: option %s has no comment above it" % (n, m.group(1)))
    prev = line
PY
# A bad value is still caught (the check is not a no-op).
sed 's/^  batch: .*/  batch: 0/' "$CONF" >"$TMP/bad.yml"
if "$ROOT$PREFIX/bin/s4f-collector" --check-config "$TMP/bad.yml" >"$TMP/bad.out" 2>&1; then
	fail "--check-config accepted collector.batch: 0"
fi
grep -q "bad.yml:[0-9]*:[0-9]*" "$TMP/bad.out" || fail "no file:line:col in: $(cat "$TMP/bad.out")"

echo "== systemd-analyze verify"
# The units are checked inside the scratch root, so ExecStart= binaries and Documentation= man
# pages are the package's own; systemd's stock units come from the host.
mkdir -p "$ROOT/lib/systemd/system"
cp -a /lib/systemd/system/. "$ROOT/lib/systemd/system/" 2>/dev/null || true
units=(s4f-collector.service s4f-worker@protocols_statistics.service s4f-worker@ports_scan.service
	s4f-sink.service s4f-web.service s4f-alert.service stream4flow.target)
if ! MANPATH=$ROOT$PREFIX/share/man SYSTEMD_LOG_COLOR=0 systemd-analyze verify --root="$ROOT" \
	"${units[@]}" >"$TMP/verify.log" 2>&1; then
	cat "$TMP/verify.log" >&2
	fail "systemd-analyze verify"
fi
if [[ -s $TMP/verify.log ]]; then
	cat "$TMP/verify.log" >&2
	fail "systemd-analyze verify printed warnings"
fi

echo "== man pages"
for m in "$ROOT$PREFIX"/share/man/man8/*.8 "$ROOT$PREFIX"/share/man/man5/*.5; do
	if command -v groff >/dev/null; then
		# -Wbreak: a long URL in a default value cannot be hyphenated; that is fine.
		out=$(groff -man -Tutf8 -ww -Wbreak -z "$m" 2>&1) || fail "groff: $m"
		[[ -z $out ]] || fail "groff warnings in $m: $out"
	fi
done
echo "ok"
