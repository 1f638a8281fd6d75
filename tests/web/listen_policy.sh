#!/usr/bin/env bash
# web_listen_policy: s4f-web refuses plain HTTP on a non-loopback listen address unless
# web.allow_insecure_listen is set; loopback and TLS are accepted; with tls_cert/tls_key (an
# openssl-made throwaway CA) the dashboard answers HTTPS that curl verifies with --cacert.
# Usage: listen_policy.sh PATH/TO/s4f-web. Everything stays on 127.0.0.1.
set -euo pipefail
WEB=${1:?usage: listen_policy.sh s4f-web}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/s4f-web-listen.XXXXXX")
pid=
cleanup() {
	if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

conf() { # conf NAME LISTEN [extra yaml lines...]: writes $TMP/NAME.yml
	local name=$1 listen=$2
	shift 2
	{
		printf 'web:\n  listen: "%s"\n  metrics_listen: 127.0.0.1:0\n  users_file: %s/users.json\n' \
			"$listen" "$TMP"
		for l in "$@"; do printf '  %s\n' "$l"; done
	} >"$TMP/$name.yml"
}

check() { # check NAME EXPECTED_RC
	local out rc=0
	out=$("$WEB" -c "$TMP/$1.yml" --check-config 2>&1) || rc=$?
	[[ $rc == "$2" ]] || fail "$1: --check-config exit $rc, expected $2: $out"
	printf '%s\n' "$out"
}

# Refused: plain HTTP on every interface or a routable address.
for l in 0.0.0.0:8080 ":8080" "[::]:8080" 192.0.2.10:8080; do
	conf refused "$l"
	out=$(check refused 1)
	grep -q "allow_insecure_listen" <<<"$out" || fail "$l: the refusal does not name the way out: $out"
done
# Accepted: loopback, the explicit opt-out, TLS.
for l in 127.0.0.1:8080 127.0.0.2:8080 localhost:8080 "[::1]:8080"; do
	conf loopback "$l"
	check loopback 0 >/dev/null
done
conf insecure 0.0.0.0:8080 "allow_insecure_listen: true"
check insecure 0 >/dev/null

# A throwaway CA and a server certificate for 127.0.0.1.
(
	cd "$TMP"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 \
		-subj "/CN=s4f test CA"
	openssl req -newkey rsa:2048 -nodes -keyout web.key -out web.csr -subj "/CN=127.0.0.1"
	printf 'subjectAltName=IP:127.0.0.1\n' >web.ext
	openssl x509 -req -in web.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out web.crt -days 1 \
		-extfile web.ext
) >"$TMP/openssl.log" 2>&1 || fail "openssl: $(cat "$TMP/openssl.log")"
conf tls 0.0.0.0:8080 "tls_cert: $TMP/web.crt" "tls_key: $TMP/web.key"
check tls 0 >/dev/null

# Served over HTTPS (on loopback: the tool listens nowhere else).
conf serve 127.0.0.1:0 "tls_cert: $TMP/web.crt" "tls_key: $TMP/web.key"
"$WEB" -c "$TMP/serve.yml" >"$TMP/web.log" 2>&1 &
pid=$!
url=
for _ in $(seq 1 300); do
	url=$(grep -oE 'dashboard at https://[^ /]+' "$TMP/web.log" | head -n 1 | sed 's/^dashboard at //') || true
	[[ -n $url ]] && break
	kill -0 "$pid" 2>/dev/null || fail "s4f-web exited: $(cat "$TMP/web.log")"
	sleep 0.1
done
[[ -n $url ]] || fail "no 'dashboard at https://' in the log: $(cat "$TMP/web.log")"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$TMP/ca.crt" "$url/") ||
	fail "curl --cacert $url/ failed"
[[ $code =~ ^(200|30[0-9])$ ]] || fail "GET $url/ answered $code"
# Plain HTTP on the TLS port gets no dashboard.
if curl -s -m 5 -o /dev/null "http://${url#https://}/"; then
	fail "plain HTTP answered on the TLS port"
fi
echo "PASS: non-loopback plain HTTP refused, loopback/opt-out/TLS accepted, HTTPS verified at $url"
