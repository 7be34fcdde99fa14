#!/usr/bin/env bash
# Generates the Python protobuf + gRPC stubs for proto/proctor/v1 into OUT_DIR
# (default: build/python-stubs under the repository root). After this,
#   PYTHONPATH=OUT_DIR /usr/bin/python3 -c 'from proctor.v1 import evaluation_pb2'
# works. Uses Debian's python3-grpc-tools, visible only to /usr/bin/python3
# (the first python3 on PATH may be another interpreter without grpc).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "${here}/../.." && pwd)"
out="${1:-${root}/build/python-stubs}"
python="${PROCTOR_PYTHON:-/usr/bin/python3}"

if ! "${python}" -c 'import grpc_tools.protoc' 2>/dev/null; then
  echo "generate.sh: ${python} lacks grpc_tools; install python3-grpc-tools" \
       "(apt) or set PROCTOR_PYTHON to an interpreter that has grpcio-tools" >&2
  exit 1
fi

mkdir -p "${out}"
cd "${root}/proto"
"${python}" -m grpc_tools.protoc -I . \
  --python_out="${out}" --grpc_python_out="${out}" \
  proctor/v1/common.proto proctor/v1/requests.proto proctor/v1/evaluation.proto \
  proctor/v1/worker.proto proctor/v1/admin.proto
echo "${out}"
