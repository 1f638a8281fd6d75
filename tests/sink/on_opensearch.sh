#!/usr/bin/env bash
# Runs a sink test against OpenSearch at S4F_OS_URL (default http://127.0.0.1:9201, the
# stack's optional service); exits 77 (skipped) when none answers.
OS=${S4F_OS_URL:-http://127.0.0.1:${S4F_OS_PORT:-9201}}
if ! curl -sf -m 5 "$OS/_cluster/health" >/dev/null; then
	echo "no OpenSearch at $OS (provisioning/stack/stack.sh up opensearch): skipped" >&2
	exit 77
fi
S4F_ES_URL=$OS exec "$@"
