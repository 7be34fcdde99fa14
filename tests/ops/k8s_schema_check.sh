#!/usr/bin/env bash
# Validates deploy/k8s against the Kubernetes OpenAPI schemas, offline, with
# kubernetes-validate (PyPI; it bundles the schemas) in a venv under the build
# directory. Strict: unknown fields are errors. CRDs (ServiceMonitor) have no
# bundled schema and are checked structurally by manifests_check.py instead.
# Exit 77 (skipped, visibly) when the package cannot be installed.
#   k8s_schema_check.sh DEPLOY_DIR VENV_DIR
set -euo pipefail
deploy=$1
venv=$2
if [[ ! -x "$venv/bin/kubernetes-validate" ]]; then
  if ! /usr/bin/python3 -m venv "$venv" >/dev/null 2>&1 ||
     ! "$venv/bin/pip" install -q kubernetes-validate >/dev/null 2>&1; then
    echo "SKIPPED: cannot install kubernetes-validate from the Python package index"
    exit 77
  fi
fi
mapfile -t files < <(find "$deploy/k8s" -name '*.yaml' ! -name 'kustomization.yaml' | sort)
"$venv/bin/kubernetes-validate" --strict -k 1.30.0 "${files[@]}"
