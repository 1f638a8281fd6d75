#!/usr/bin/env bash
# Regenerates docs/configuration.md and docs/man/ from the daemons' option tables (each daemon
# prints them with --config-reference, --config-example and --help), so the reference cannot
# drift from the code. Run after changing an option table, and commit the result; the test
# ops_docs_current fails while they differ.
#
#   docs/generate.sh [BUILD_DIR]        (default: build; builds the four daemons first)
#   S4F_NO_BUILD=1 docs/generate.sh DIR  use the binaries in DIR as they are
#   docs/generate.sh --check [BUILD_DIR] exit 1 (with a diff) when the files are out of date
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
check=0
if [[ ${1:-} == --check ]]; then
	check=1
	shift
fi
BUILD=$(cd "${1:-$REPO/build}" && pwd)

if [[ -z ${S4F_NO_BUILD:-} && $check -eq 0 ]]; then
	cmake --build "$BUILD" -j2 --target s4f-collector s4f-worker s4f-sink s4f-web s4f-alert
fi
bins=()
for b in collector/s4f-collector workers/s4f-worker sink/s4f-sink web/s4f-web alert/s4f-alert; do
	[[ -x $BUILD/$b ]] || {
		echo "generate.sh: $BUILD/$b not built" >&2
		exit 1
	}
	bins+=("$BUILD/$b")
done
version=$(sed -n 's/^project(stream4flow VERSION \([0-9.]*\).*/\1/p' "$REPO/CMakeLists.txt")
# The binaries of a sanitizer build run here too; their exit-time leak report is not our output.
export ASAN_OPTIONS=detect_leaks=0

out=$HERE
if ((check)); then
	out=$(mktemp -d "${TMPDIR:-/tmp}/s4f-docs.XXXXXX")
	trap 'rm -rf "$out"' EXIT
fi
# The docs describe the Debian package, whatever prefix this build was configured for.
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
gen=(python3 "$REPO/provisioning/gen_config.py" --docs-prefix "${prefix:-/usr/local}")
"${gen[@]}" reference --out "$out/configuration.md" "${bins[@]}"
"${gen[@]}" man --version "$version" --outdir "$out/man" "${bins[@]}"

if ((check)); then
	rc=0
	diff -u "$HERE/configuration.md" "$out/configuration.md" || rc=1
	diff -ru "$HERE/man" "$out/man" || rc=1
	if ((rc)); then
		echo "docs/configuration.md or docs/man/ are out of date: run docs/generate.sh" >&2
	fi
	exit $rc
fi
echo "generated docs/configuration.md and docs/man/"
