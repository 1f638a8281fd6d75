#!/usr/bin/env bash
# ops_docs_current: docs/configuration.md and docs/man/ are what the option tables of the built
# daemons generate (docs/generate.sh --check); a changed option needs `docs/generate.sh`.
set -euo pipefail
exec "${S4F_SOURCE_DIR:?}/docs/generate.sh" --check "$1"
