#!/usr/bin/env bash
# End-to-end check of the `proctor` command against a real coordinator and one
# worker with the deterministic scripted backend (no model needed): submit,
# watch to completion, results in every format, runs, cancel, and the exit
# codes of the error paths.
#
#   cli/cli_e2e_test.sh build/bin/proctor build/bin/proctor-coordinator build/bin/proctor-worker
#
# Exit 0 pass, 1 fail, 77 skipped (no shared datasets).
set -euo pipefail

proctor="${1:?usage: cli_e2e_test.sh PROCTOR COORDINATOR WORKER}"
coordinator="${2:?}"
worker="${3:?}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${PROCTOR_SHARED_DATA:-${here}/../../shared/data}/datasets"
[[ -d "${data}" ]] || { echo "SKIP: no datasets at ${data}"; exit 77; }

work="$(mktemp -d "${TMPDIR:-/tmp}/proctor-cli-e2e.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
  rm -rf "${work}"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  tail -n 20 "${work}/coordinator.log" "${work}/worker.log" >&2 || true
  exit 1
}
# expect CODE CMD... : runs CMD, checks its exit code, keeps stdout/stderr.
expect() {
  local want=$1
  shift
  set +e
  "$@" >"${work}/out" 2>"${work}/err"
  local got=$?
  set -e
  [[ ${got} -eq ${want} ]] || fail "$* exited ${got}, want ${want}: $(cat "${work}/err")"
}

"${coordinator}" --port=0 --port_file="${work}/port" --store="${work}/store.db" \
  --data_dir="${data}" >"${work}/coordinator.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  [[ -s "${work}/port" ]] && break
  sleep 0.1
done
[[ -s "${work}/port" ]] || fail "coordinator did not write its port"
export PROCTOR_COORDINATOR="127.0.0.1:$(tr -d '[:space:]' <"${work}/port")"
"${worker}" --coordinator="${PROCTOR_COORDINATOR}" --name=e2e --backend=scripted \
  >"${work}/worker.log" 2>&1 &
pids+=($!)

expect 0 "${proctor}" submit --model smollm2-135m --suite smoke --limit 3 --label ci=e2e
run="$(cat "${work}/out")"
[[ "${run}" =~ ^[A-Za-z0-9_.-]+$ ]] || fail "submit printed '${run}', want only a run id"

expect 0 "${proctor}" watch "${run}" --interval=1s --timeout=10s
grep -q "^run ${run} succeeded" "${work}/out" || fail "watch: no success line: $(cat "${work}/out")"

expect 0 "${proctor}" results "${run}" --format=csv
sets="$(grep -c '^set,[^,]*,[^,]*,[^,]*,true,.*,true,$' "${work}/out" || true)"  # primary, complete
[[ "${sets}" -eq 4 ]] || fail "results csv: want 4 complete sets, got ${sets}: $(cat "${work}/out")"
expect 0 "${proctor}" results "${run}"
grep -q "^arc_e " "${work}/out" || fail "results table lacks arc_e"
expect 0 "${proctor}" results "${run}" --format=json
grep -q "\"runId\": \"${run}\"" "${work}/out" || fail "results json lacks the run id"

expect 0 "${proctor}" runs --label ci=e2e --state succeeded --format=csv
grep -q "^${run},succeeded," "${work}/out" || fail "runs: $(cat "${work}/out")"
expect 0 "${proctor}" cancel "${run}"  # idempotent on a finished run
[[ "$(cat "${work}/out")" == "${run} succeeded" ]] || fail "cancel: $(cat "${work}/out")"
expect 0 "${proctor}" workers --format=csv
grep -q ',e2e,' "${work}/out" || fail "workers: $(cat "${work}/out")"

expect 4 "${proctor}" results no-such-run
grep -q '^proctor: NOT_FOUND: ' "${work}/err" || fail "not found message: $(cat "${work}/err")"
expect 6 "${proctor}" submit --model m --suite no-such-suite
grep -q '^proctor: INVALID_ARGUMENT: spec.suite' "${work}/err" || fail "$(cat "${work}/err")"
expect 2 "${proctor}" submit --model m --suite smoke --priority urgent
expect 5 "${proctor}" --coordinator=127.0.0.1:1 runs

# A run cancelled while queued: submit with no capacity for it (cuda only).
expect 0 "${proctor}" submit --model big --suite smoke --backend cuda --tp 8
queued="$(cat "${work}/out")"
expect 0 "${proctor}" cancel "${queued}"
expect 3 "${proctor}" watch "${queued}"
echo "PASS"
