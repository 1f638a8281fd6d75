#!/usr/bin/env bash
# Install the Debian 12 packages Stream4Flow needs to build, test and run its
# local stack. Idempotent: asks dpkg which packages are missing, and only
# then runs `apt-get update` (once) and `apt-get install` for those. When
# everything is present it does nothing else (well under 2 s).
#
#   provisioning/install-deps.sh          # as root (or with sudo available)
#   S4F_EXTRA_PACKAGES="gdb strace" provisioning/install-deps.sh
set -euo pipefail

PACKAGES=(
	# build
	build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev
	# libraries
	librdkafka-dev libfixbuf-dev libjansson-dev libcurl4-openssl-dev libssl-dev
	libmicrohttpd-dev libyaml-dev libcmocka-dev libpcap-dev libmaxminddb-dev
	# test tooling
	valgrind kcat softflowd pmacct nfdump tshark tcpreplay libmaxmind-db-writer-perl
	# the alert test's syslog receiver (TCP, TLS, UDP)
	rsyslog rsyslog-gnutls
	# charts of the soak and the pipeline benchmark (tests/system/soak.py, bench/pipeline)
	gnuplot-nox
	# local stack (provisioning/stack/stack.sh) and scripts
	maven curl jq python3 python3-yaml unzip
	# web: password hashing, gzip answers, browser tests and the API benchmark
	libcrypt-dev zlib1g-dev openssl chromium wrk
	# packaging and operations checks (tests/ops)
	dpkg-dev groff-base systemd ansible ansible-lint
)
# The web front end is built with npm (uPlot, vendored into the binary). Machines that already
# carry a Node.js of their own keep it; elsewhere Debian's is installed.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)
# shellcheck disable=SC2206 # word splitting wanted
[[ -n ${S4F_EXTRA_PACKAGES:-} ]] && PACKAGES+=(${S4F_EXTRA_PACKAGES})

missing=()
for p in "${PACKAGES[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $st == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi

SUDO=()
if [[ $EUID -ne 0 ]]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "install-deps: missing ${missing[*]}; run as root" >&2
		exit 1
	}
	SUDO=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark (wireshark-common) asks whether non-root users may capture: no.
echo 'wireshark-common wireshark-common/install-setuid boolean false' |
	"${SUDO[@]}" debconf-set-selections
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${missing[@]}"

# Verify.
still=()
for p in "${missing[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $st == "install ok installed" ]] || still+=("$p")
done
if ((${#still[@]})); then
	echo "install-deps: still missing after install: ${still[*]}" >&2
	exit 1
fi
echo "install-deps: done"
