#!/usr/bin/python3
"""Tests proctor_client.py and examples/submit_and_watch.py against an
in-process fake EvaluationService (no coordinator needed).

    /usr/bin/python3 clients/python/test_client_fake.py
"""

import os
import subprocess
import sys
import tempfile
import threading
import unittest
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import grpc  # noqa: E402

import proctor_client  # noqa: E402

STUBS = os.environ.get("PROCTOR_PY_STUBS") or proctor_client.generate_stubs(
    tempfile.mkdtemp(prefix="proctor-stubs-test-"))
S = proctor_client.load_stubs(STUBS)
c, ev = S.common_pb2, S.evaluation_pb2


class FakeEvaluation(S.evaluation_pb2_grpc.EvaluationServiceServicer):
    def __init__(self):
        self.specs = []
        self.lock = threading.Lock()

    def SubmitRun(self, request, context):
        with self.lock:
            self.specs.append(request.spec)
        if request.spec.suite not in ("", "smoke"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          'spec.suite: unknown suite "%s"' % request.spec.suite)
        return c.Run(run_id="r-7", spec=request.spec, state=c.RUN_STATE_QUEUED)

    def GetRun(self, request, context):
        if request.run_id != "r-7":
            context.abort(grpc.StatusCode.NOT_FOUND, 'run "%s" not found' % request.run_id)
        return c.Run(run_id="r-7", state=c.RUN_STATE_RUNNING)

    def WatchRun(self, request, context):
        for done, state in ((0, c.RUN_STATE_QUEUED), (1, c.RUN_STATE_RUNNING),
                            (2, c.RUN_STATE_SUCCEEDED)):
            event = ev.RunEvent(run=c.Run(run_id=request.run_id, state=state))
            event.time.seconds = 1_800_000_000 + done
            event.run.progress.jobs_done = done
            event.run.progress.jobs_total = 2
            yield event

    def GetResults(self, request, context):
        r = ev.Results(run_id=request.run_id, model="smollm2", state=c.RUN_STATE_SUCCEEDED)
        s = r.sets.add(dataset="arc_easy", dimension="Reasoning", primary_metric="acc",
                       num_samples=20, num_samples_total=20, complete=True)
        s.metrics.add(name="acc", value=55.0, stderr=11.41, has_stderr=True)
        r.overall.name = "Overall"
        r.overall.complete = True
        r.overall.score = 55.0
        return r

    def ListDatasets(self, request, context):
        return ev.ListDatasetsResponse(datasets=[ev.DatasetInfo(name="arc_easy")])


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeEvaluation()
        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        S.evaluation_pb2_grpc.add_EvaluationServiceServicer_to_server(cls.fake, cls.server)
        cls.port = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server.start()
        cls.target = "127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop(None)

    def example(self, *args):
        cmd = [sys.executable, os.path.join(HERE, "examples", "submit_and_watch.py"),
               "--coordinator", self.target, "--stubs", STUBS, "--timeout", "10"] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def test_client_submit_watch_results(self):
        with proctor_client.ProctorClient(self.target, stubs_dir=STUBS, token="") as client:
            run = client.submit(model="smollm2", suite="smoke", datasets=["gsm8k", ("mmlu", 5)],
                                priority="sweep", labels={"team": "nlp"}, submitter="bob")
            self.assertEqual(run.run_id, "r-7")
            spec = self.fake.specs[-1]
            self.assertEqual(spec.priority, c.PRIORITY_SWEEP)
            self.assertEqual([(d.name, d.limit) for d in spec.datasets],
                             [("gsm8k", 0), ("mmlu", 5)])
            self.assertEqual(dict(spec.labels), {"team": "nlp"})
            self.assertEqual(spec.submitter, "bob")
            states = [e.run.state for e in client.watch("r-7")]
            self.assertEqual(states, [c.RUN_STATE_QUEUED, c.RUN_STATE_RUNNING,
                                      c.RUN_STATE_SUCCEEDED])
            text = proctor_client.format_results(client.results("r-7"), client.pb)
            self.assertIn("arc_easy", text)
            self.assertIn("55.00 ± 11.41", text)
            self.assertIn("Overall   55.00", text)
            self.assertEqual(len(client.datasets()), 1)
            with self.assertRaises(ValueError):
                client.submit(model="m", suite="smoke", priority="urgent")
            with self.assertRaises(grpc.RpcError) as err:
                client.get_run("r-none")
            self.assertEqual(err.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_example_end_to_end(self):
        result = self.example("--model", "smollm2", "--suite", "smoke", "--dataset", "gsm8k:5")
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        self.assertEqual(lines[0], "r-7")
        self.assertIn("SUCCEEDED jobs 2/2", result.stdout)
        self.assertIn("arc_easy", result.stdout)

    def test_example_no_watch_prints_only_the_id(self):
        result = self.example("--model", "smollm2", "--suite", "smoke", "--no-watch")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "r-7\n")

    def test_example_invalid_argument_exit_6(self):
        result = self.example("--model", "smollm2", "--suite", "nope")
        self.assertEqual(result.returncode, 6)
        self.assertEqual(result.stderr.strip(),
                         'proctor: INVALID_ARGUMENT: spec.suite: unknown suite "nope"')

    def test_example_unavailable_exit_5(self):
        cmd = [sys.executable, os.path.join(HERE, "examples", "submit_and_watch.py"),
               "--coordinator", "127.0.0.1:1", "--stubs", STUBS, "--timeout", "5",
               "--model", "m", "--suite", "smoke"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 5, result.stderr)
        self.assertTrue(result.stderr.startswith("proctor: UNAVAILABLE: "), result.stderr)


if __name__ == "__main__":
    unittest.main()
