#!/usr/bin/python3
"""Submits an evaluation run, prints its progress events, then its results.

    /usr/bin/python3 clients/python/examples/submit_and_watch.py \
        --coordinator 127.0.0.1:50051 --model smollm2-135m --suite smoke --limit 20

Prints the run id first (alone on its line). With --no-watch it stops there.
Exit status: 0 succeeded (or submitted, with --no-watch), 1 failed,
3 cancelled, 4 not found, 5 coordinator unavailable, 6 invalid argument,
as the `proctor` command.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import grpc  # noqa: E402

from proctor_client import ProctorClient, format_results  # noqa: E402

EXIT_BY_CODE = {
    grpc.StatusCode.NOT_FOUND: 4,
    grpc.StatusCode.UNAVAILABLE: 5,
    grpc.StatusCode.DEADLINE_EXCEEDED: 5,
    grpc.StatusCode.INVALID_ARGUMENT: 6,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coordinator", default=None,
                        help="host:port (default $PROCTOR_COORDINATOR or 127.0.0.1:50051)")
    parser.add_argument("--model", required=True, help="model name or weights path")
    parser.add_argument("--suite", default="")
    parser.add_argument("--dataset", action="append", default=[],
                        help="NAME or NAME:LIMIT (repeatable)")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--priority", default="interactive",
                        choices=["interactive", "sweep", "backfill"])
    parser.add_argument("--timeout", type=float, default=30.0, help="per-call deadline, seconds")
    parser.add_argument("--stubs", default=None, help="directory of generated stubs")
    parser.add_argument("--no-watch", action="store_true", help="only submit; print the id")
    args = parser.parse_args()

    datasets = []
    for d in args.dataset:
        name, _, limit = d.partition(":")
        datasets.append((name, int(limit)) if limit else name)

    with ProctorClient(args.coordinator, timeout=args.timeout, stubs_dir=args.stubs) as client:
        pb = client.pb
        try:
            run = client.submit(model=args.model, suite=args.suite, datasets=datasets,
                                limit=args.limit, priority=args.priority)
            print(run.run_id, flush=True)
            if args.no_watch:
                return 0
            last = run
            for event in client.watch(run.run_id):
                last = event.run
                p = last.progress
                print("%s %-9s jobs %d/%d requests %d/%d" % (
                    event.time.ToJsonString(), pb.RunState.Name(last.state)[len("RUN_STATE_"):],
                    p.jobs_done, p.jobs_total, p.requests_done, p.requests_total), flush=True)
            if last.failure_reason:
                print("failure: " + last.failure_reason)
            print(format_results(client.results(run.run_id), pb))
            return {pb.RUN_STATE_SUCCEEDED: 0, pb.RUN_STATE_CANCELLED: 3}.get(last.state, 1)
        except grpc.RpcError as err:
            print("proctor: %s: %s" % (err.code().name, err.details()), file=sys.stderr)
            return EXIT_BY_CODE.get(err.code(), 1)


if __name__ == "__main__":
    sys.exit(main())
