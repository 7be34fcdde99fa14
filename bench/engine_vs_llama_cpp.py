#!/usr/bin/env python3
"""Proctor's CPU engine vs llama.cpp: prompt and decode speed, same GGUF, same threads.

Runs, back to back and R times each (alternating, so both sides see the same
machine load):
  * Proctor: `proctor_engine_bench --speed-only` (prefill of a P-token prompt,
    no logits; greedy decode of D tokens, one row of logits per step) in a
    fresh process each time;
  * llama.cpp (llama-cpp-python): one eval of the same-length prompt
    (n_batch=512, logits of the last position only), then D single-token
    greedy steps.
Prints wall-clock tokens/s for each side and run, the medians, the ratios
Proctor / llama.cpp, tokens per CPU-second (process CPU time, all threads: on
a shared machine this is the figure that other processes disturb least), the
peak RSS of the Proctor runs against model file + KV cache, and one JSON line.

Usage (see bench/README.md; llama-cpp-python setup in tests/reference/README.md):
  build-cpuspeed/venv/bin/python bench/engine_vs_llama_cpp.py \
      --bench build-cpuspeed/bin/proctor_engine_bench \
      --model data-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf --threads 2 --runs 5
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
from llama_cpp_compare import FEWSHOT  # noqa: E402  (one prompt text for both tools)

import llama_cpp  # noqa: E402
import numpy as np  # noqa: E402


def proctor_run(bench, model, threads, prompt, decode):
    r = subprocess.run([bench, "--model", model, "--threads", str(threads), "--prefill-tokens",
                        str(prompt), "--decode-tokens", str(decode), "--speed-only"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("proctor_engine_bench failed: " + r.stderr)
    pre = re.search(r"prefill: (\d+) tokens x (\d+) in .*= ([0-9.]+) tokens/s "
                    r"\(cpu ([0-9.]+) s = ([0-9.]+) tokens/cpu-s\)", r.stdout)
    dec = re.search(r"decode: .*= ([0-9.]+) tokens/s \(cpu ([0-9.]+) s = ([0-9.]+) "
                    r"tokens/cpu-s\)", r.stdout)
    mem = re.search(r"memory: peak RSS ([0-9.]+) MiB, .* largest KV cache ([0-9.]+) MiB",
                    r.stdout)
    if not pre or not dec or not mem:
        raise RuntimeError("unexpected proctor_engine_bench output:\n" + r.stdout)
    return {"pp": float(pre.group(3)), "pp_cpu": float(pre.group(5)),
            "tg": float(dec.group(1)), "tg_cpu": float(dec.group(3)),
            "prompt_tokens": int(pre.group(1)), "rss_mib": float(mem.group(1)),
            "kv_mib": float(mem.group(2))}


class LlamaCpp:
    def __init__(self, model, threads):
        self.llm = llama_cpp.Llama(model_path=model, n_ctx=2048, n_batch=512, n_ubatch=512,
                                   n_threads=threads, n_threads_batch=threads, logits_all=False,
                                   verbose=False)

    def tokenize(self, text):
        return self.llm.tokenize(text.encode(), add_bos=False, special=False)

    def run(self, prompt, decode):
        text, toks = "", []
        while len(toks) < prompt:
            text += FEWSHOT
            toks = self.tokenize(text)
        toks = toks[:prompt]
        self.llm.reset()
        t0, c0 = time.perf_counter(), time.process_time()
        self.llm.eval(toks)
        pp_wall, pp_cpu = time.perf_counter() - t0, time.process_time() - c0
        self.llm.reset()
        self.llm.eval(self.tokenize("Once upon a time"))
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(decode):
            nxt = int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))
            self.llm.eval([nxt])
        tg_wall, tg_cpu = time.perf_counter() - t0, time.process_time() - c0
        return {"pp": len(toks) / pp_wall, "pp_cpu": len(toks) / pp_cpu,
                "tg": decode / tg_wall, "tg_cpu": decode / tg_cpu}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/bin/proctor_engine_bench")
    ap.add_argument("--model", default="data-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    for path in (a.bench, a.model):
        if not os.path.exists(path):
            print("missing %s" % path, file=sys.stderr)
            return 2

    ref = LlamaCpp(a.model, a.threads)
    ref.run(64, 4)  # warm-up: page in the model, start the thread pool
    px, rf = [], []
    print("threads=%d prompt=%d decode=%d runs=%d load=%s" %
          (a.threads, a.prompt, a.decode, a.runs, os.getloadavg()), flush=True)
    for i in range(a.runs):
        px.append(proctor_run(a.bench, a.model, a.threads, a.prompt, a.decode))
        rf.append(ref.run(a.prompt, a.decode))
        print("run %d: prompt proctor %.1f / llama.cpp %.1f tok/s; decode proctor %.1f / "
              "llama.cpp %.1f tok/s (per cpu-s: %.1f / %.1f, %.1f / %.1f)" %
              (i + 1, px[-1]["pp"], rf[-1]["pp"], px[-1]["tg"], rf[-1]["tg"], px[-1]["pp_cpu"],
               rf[-1]["pp_cpu"], px[-1]["tg_cpu"], rf[-1]["tg_cpu"]), flush=True)

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    res = {"bench": "engine_vs_llama_cpp", "model": os.path.basename(a.model),
           "threads": a.threads, "prompt_tokens": a.prompt, "decode_tokens": a.decode,
           "runs": a.runs, "llama_cpp_version": getattr(llama_cpp, "__version__", "?")}
    for key in ("pp", "tg", "pp_cpu", "tg_cpu"):
        res["proctor_" + key] = round(med(px, key), 2)
        res["llama_cpp_" + key] = round(med(rf, key), 2)
        res["ratio_" + key] = round(med(px, key) / med(rf, key), 3)
    # Peak RSS as the bench process reports it (getrusage inside the process:
    # a child's ru_maxrss seen from here would include the pre-exec fork).
    res["proctor_peak_rss_mib"] = max(r["rss_mib"] for r in px)
    res["proctor_kv_mib"] = max(r["kv_mib"] for r in px)
    res["model_file_mib"] = round(os.path.getsize(a.model) / 2**20, 1)
    res["rss_ratio"] = round(res["proctor_peak_rss_mib"] /
                             (res["model_file_mib"] + res["proctor_kv_mib"]), 3)
    print("median prompt tokens/s: proctor %.1f, llama.cpp %.1f, ratio %.2f" %
          (res["proctor_pp"], res["llama_cpp_pp"], res["ratio_pp"]))
    print("median decode tokens/s: proctor %.1f, llama.cpp %.1f, ratio %.2f" %
          (res["proctor_tg"], res["llama_cpp_tg"], res["ratio_tg"]))
    print("median per cpu-second: prompt ratio %.2f, decode ratio %.2f" %
          (res["ratio_pp_cpu"], res["ratio_tg_cpu"]))
    print("proctor peak RSS %.1f MiB = %.2fx (model file %.1f MiB + KV %.1f MiB)" %
          (res["proctor_peak_rss_mib"], res["rss_ratio"], res["model_file_mib"],
           res["proctor_kv_mib"]))
    print(json.dumps(res, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
