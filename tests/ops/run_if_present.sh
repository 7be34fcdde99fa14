#!/bin/sh
# Runs "$@" when its program exists; otherwise prints why and exits 77, which
# CTest reports as skipped (SKIP_RETURN_CODE 77). The Debian packages
# prometheus (promtool) and python3-yaml provide the tools (scripts/install-deps).
if ! command -v "$1" >/dev/null 2>&1; then
  echo "SKIPPED: $1 is not installed (see scripts/install-deps)" >&2
  exit 77
fi
exec "$@"
