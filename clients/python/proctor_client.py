"""A small Python client for the Proctor coordinator.

It wraps the stubs that ``generate.sh`` builds from ``proto/proctor/v1``:
connect, submit a run, watch its progress, read its results. Anything the
wrapper does not cover is one call away on ``client.evaluation`` /
``client.admin`` (the generated stubs) with the messages in ``client.pb``.

    from proctor_client import ProctorClient
    client = ProctorClient("127.0.0.1:50051")
    run = client.submit(model="smollm2-135m", suite="smoke", limit=20)
    for event in client.watch(run.run_id):
        print(client.pb.RunState.Name(event.run.state), event.run.progress.jobs_done)
    print(client.results(run.run_id))

Errors are ``grpc.RpcError``: ``err.code()`` is the gRPC status code
(INVALID_ARGUMENT names the bad field, NOT_FOUND an unknown run, UNAVAILABLE a
coordinator that is down) and ``err.details()`` the server's message.
"""

import importlib
import os
import sys
import tempfile

import grpc

_STUB_MODULES = ("common_pb2", "evaluation_pb2", "evaluation_pb2_grpc", "admin_pb2",
                 "admin_pb2_grpc")

PRIORITIES = {"interactive": 1, "sweep": 2, "backfill": 3}
TERMINAL_STATES = {3, 4, 5}  # RUN_STATE_SUCCEEDED, _FAILED, _CANCELLED


def _proto_root():
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                         "proto"))


def generate_stubs(out_dir, proto_root=None):
    """Generates the Python stubs for proctor/v1 into out_dir (in-process,
    with grpc_tools). Raises RuntimeError when protoc fails."""
    from grpc_tools import protoc  # Debian: python3-grpc-tools
    import grpc_tools

    proto_root = proto_root or _proto_root()
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = ["proctor/v1/%s.proto" % n for n in ("common", "requests", "evaluation", "worker",
                                                 "admin")]
    os.makedirs(out_dir, exist_ok=True)
    args = ["protoc", "-I" + proto_root, "-I" + include, "--python_out=" + out_dir,
            "--grpc_python_out=" + out_dir] + [os.path.join(proto_root, f) for f in files]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed for %s" % proto_root)
    return out_dir


class _Stubs:
    """The generated modules, as attributes (common_pb2, evaluation_pb2, ...)."""


def load_stubs(stubs_dir=None):
    """Imports the generated modules. Looks in stubs_dir, else $PROCTOR_PY_STUBS,
    else generates them into a fresh temporary directory."""
    stubs_dir = stubs_dir or os.environ.get("PROCTOR_PY_STUBS")
    if not stubs_dir:
        stubs_dir = generate_stubs(tempfile.mkdtemp(prefix="proctor-stubs-"))
    if not os.path.isfile(os.path.join(stubs_dir, "proctor", "v1", "evaluation_pb2.py")):
        raise ImportError("no generated stubs under %s; run clients/python/generate.sh %s" %
                          (stubs_dir, stubs_dir))
    if stubs_dir not in sys.path:
        sys.path.insert(0, stubs_dir)
    stubs = _Stubs()
    for name in _STUB_MODULES:
        setattr(stubs, name, importlib.import_module("proctor.v1." + name))
    return stubs


class _Messages:
    """All proctor.v1 message and enum types under one namespace."""

    def __init__(self, stubs):
        for module in (stubs.common_pb2, stubs.evaluation_pb2, stubs.admin_pb2):
            for name in dir(module):
                if not name.startswith("_"):
                    setattr(self, name, getattr(module, name))


class ProctorClient:
    """A connection to one coordinator. Not thread-safe per call sequence, but
    the underlying channel may be shared. Close it with close() or use it as a
    context manager."""

    def __init__(self, target=None, timeout=30.0, token=None, stubs_dir=None):
        self.target = target or os.environ.get("PROCTOR_COORDINATOR", "127.0.0.1:50051")
        self.timeout = timeout
        token = token if token is not None else os.environ.get("PROCTOR_TOKEN", "")
        self._metadata = (("authorization", "Bearer " + token),) if token else ()
        stubs = load_stubs(stubs_dir)
        self.pb = _Messages(stubs)
        self._channel = grpc.insecure_channel(self.target)
        self.evaluation = stubs.evaluation_pb2_grpc.EvaluationServiceStub(self._channel)
        self.admin = stubs.admin_pb2_grpc.AdminServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request):
        return method(request, timeout=self.timeout, metadata=self._metadata)

    def submit(self, model, suite="", datasets=(), limit=0, seed=0, priority="interactive",
               labels=None, model_path="", backend="", tensor_parallel=0, submitter=None):
        """Submits a run and returns the Run message (run.run_id is its id).

        datasets: names, or (name, limit) pairs for a per-set limit."""
        if priority not in PRIORITIES:
            raise ValueError("priority: unknown %r (expected %s)" %
                             (priority, ", ".join(PRIORITIES)))
        spec = self.pb.RunSpec(suite=suite, limit=limit, seed=seed,
                               priority=PRIORITIES[priority], labels=labels or {},
                               submitter=submitter if submitter is not None
                               else os.environ.get("USER", ""))
        spec.model.name = model
        spec.model.path = model_path
        spec.model.backend = backend
        spec.model.tensor_parallel = tensor_parallel
        for d in datasets:
            name, per_set_limit = (d, 0) if isinstance(d, str) else d
            spec.datasets.add(name=name, limit=per_set_limit)
        return self._call(self.evaluation.SubmitRun, self.pb.SubmitRunRequest(spec=spec))

    def get_run(self, run_id):
        return self._call(self.evaluation.GetRun, self.pb.GetRunRequest(run_id=run_id))

    def list_runs(self, states=(), labels=None, page_size=0):
        request = self.pb.ListRunsRequest(states=list(states), page_size=page_size,
                                          label_selector=labels or {})
        return self._call(self.evaluation.ListRuns, request).runs

    def cancel(self, run_id):
        return self._call(self.evaluation.CancelRun, self.pb.CancelRunRequest(run_id=run_id))

    def watch(self, run_id, timeout=None):
        """Yields RunEvent messages until the run ends (the last event carries
        the terminal state) or `timeout` seconds pass (then grpc.RpcError with
        DEADLINE_EXCEEDED)."""
        stream = self.evaluation.WatchRun(self.pb.WatchRunRequest(run_id=run_id),
                                          timeout=timeout, metadata=self._metadata)
        try:
            for event in stream:
                yield event
                if event.run.state in TERMINAL_STATES:
                    return
        finally:
            stream.cancel()

    def results(self, run_id):
        return self._call(self.evaluation.GetResults, self.pb.GetResultsRequest(run_id=run_id))

    def datasets(self):
        return self._call(self.evaluation.ListDatasets, self.pb.ListDatasetsRequest()).datasets

    def suites(self):
        return self._call(self.evaluation.ListSuites, self.pb.ListSuitesRequest()).suites

    def workers(self):
        return self._call(self.admin.ListWorkers, self.pb.ListWorkersRequest()).workers


def format_results(results, pb):
    """Plain-text summary of a Results message: one line per set, group,
    dimension and the overall score; '*' marks incomplete entries."""
    lines = ["run %s  model %s  state %s" % (results.run_id, results.model,
                                              pb.RunState.Name(results.state))]

    def score(value, stderr, has_stderr):
        return "%.2f" % value + (" ± %.2f" % stderr if has_stderr else "")

    for s in results.sets:
        metric = next((m for m in s.metrics if m.name == s.primary_metric),
                      s.metrics[0] if s.metrics else None)
        text = score(metric.value, metric.stderr, metric.has_stderr) if metric else "-"
        lines.append("  %-32s %-12s %-10s %s  n=%d/%d%s" % (
            s.dataset, s.dimension, metric.name if metric else s.primary_metric, text,
            s.num_samples, s.num_samples_total, "" if s.complete else " *"))
    for kind, groups in (("group", results.groups), ("dimension", results.dimensions)):
        for g in groups:
            lines.append("  %-9s %-22s %s%s" % (
                kind, g.name, score(g.score, g.stderr, g.has_stderr) if g.complete else "-",
                "" if g.complete else " * missing " + ", ".join(g.missing)))
    if results.HasField("overall"):
        o = results.overall
        lines.append("  Overall   %s%s" % (score(o.score, o.stderr, o.has_stderr)
                                           if o.complete else "-", "" if o.complete else " *"))
    return "\n".join(lines)
