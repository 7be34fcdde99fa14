#!/usr/bin/env bash
# Proves that a plain gRPC client (Python, stubs generated from proto/) can
# drive a real coordinator: starts COORDINATOR on a free port with a fresh
# store, submits a `smoke` run through examples/submit_and_watch.py, and checks
# that the run is accepted, GetRun and ListDatasets answer, and a bad suite is
# refused with INVALID_ARGUMENT (exit 6). No workers: the run stays queued.
#
#   clients/python/test_client.sh build/bin/proctor-coordinator
#
# Exit 0 pass, 1 fail, 77 skipped (no shared datasets, no grpc for Python).
set -euo pipefail

coordinator="${1:?usage: test_client.sh PATH/TO/proctor-coordinator}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
python="${PROCTOR_PYTHON:-/usr/bin/python3}"
data="${PROCTOR_SHARED_DATA:-${root}/../shared/data}/datasets"

if [[ ! -d "${data}" ]]; then
  echo "SKIP: no datasets at ${data} (set PROCTOR_SHARED_DATA)"
  exit 77
fi
if ! "${python}" -c 'import grpc, grpc_tools' 2>/dev/null; then
  echo "SKIP: ${python} lacks grpc / grpc_tools (apt install python3-grpcio python3-grpc-tools)"
  exit 77
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/proctor-pyclient.XXXXXX")"
pid=""
cleanup() {
  if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
    kill "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "--- coordinator log ---" >&2
  tail -n 40 "${work}/coordinator.log" >&2 || true
  exit 1
}

"${coordinator}" --port=0 --port_file="${work}/port" --store="${work}/store.db" \
  --data_dir="${data}" >"${work}/coordinator.log" 2>&1 &
pid=$!

port=""
for _ in $(seq 1 300); do  # up to 30 s
  if [[ -s "${work}/port" ]]; then
    port="$(tr -d '[:space:]' <"${work}/port")"
    [[ "${port}" =~ ^[0-9]+$ ]] && break
    port=""
  fi
  kill -0 "${pid}" 2>/dev/null || fail "coordinator exited before serving"
  sleep 0.1
done
[[ -n "${port}" ]] || fail "coordinator wrote no port to ${work}/port within 30 s"
target="127.0.0.1:${port}"
echo "coordinator serving on ${target}"

"${here}/generate.sh" "${work}/stubs" >/dev/null
example=("${python}" "${here}/examples/submit_and_watch.py" --coordinator "${target}"
         --stubs "${work}/stubs" --timeout 30)

run_id="$("${example[@]}" --model smollm2-135m --suite smoke --limit 2 --no-watch)" ||
  fail "submit through the Python example failed (exit $?)"
[[ -n "${run_id}" && "${run_id}" != *$'\n'* ]] || fail "expected one run id, got '${run_id}'"
echo "submitted run ${run_id}"

set +e
"${example[@]}" --model smollm2-135m --suite no-such-suite --no-watch >"${work}/bad.out" \
  2>"${work}/bad.err"
code=$?
set -e
[[ ${code} -eq 6 ]] || fail "unknown suite: expected exit 6, got ${code}: $(cat "${work}/bad.err")"
grep -q '^proctor: INVALID_ARGUMENT: ' "${work}/bad.err" ||
  fail "unknown suite: no INVALID_ARGUMENT message: $(cat "${work}/bad.err")"

PROCTOR_RUN_ID="${run_id}" PROCTOR_TARGET="${target}" PROCTOR_PY_STUBS="${work}/stubs" \
  "${python}" - "${here}" <<'PY' || fail "GetRun / ListDatasets checks"
import os, sys
sys.path.insert(0, sys.argv[1])
from proctor_client import ProctorClient

with ProctorClient(os.environ["PROCTOR_TARGET"], timeout=30) as client:
    pb = client.pb
    run = client.get_run(os.environ["PROCTOR_RUN_ID"])
    assert run.run_id == os.environ["PROCTOR_RUN_ID"], run
    assert run.state in (pb.RUN_STATE_QUEUED, pb.RUN_STATE_RUNNING), pb.RunState.Name(run.state)
    assert run.spec.suite == "smoke", run.spec
    assert run.spec.model.name == "smollm2-135m", run.spec.model
    assert run.progress.jobs_total > 0, run.progress
    datasets = client.datasets()
    assert len(datasets) > 0, "ListDatasets returned nothing"
    runs = client.list_runs()
    assert any(r.run_id == run.run_id for r in runs), "ListRuns lacks the run"
    print("run %s %s, %d jobs; %d datasets" % (run.run_id, pb.RunState.Name(run.state),
                                              run.progress.jobs_total, len(datasets)))
PY
echo "PASS"
