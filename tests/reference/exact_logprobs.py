#!/usr/bin/env python3
"""Proctor's CPU engine vs an exact float64 forward pass, per token.

For a few texts (tokenized by llama.cpp's tokenizer, which Proctor matches
exactly, see llama_cpp_compare.py), runs `proctor_engine_bench --score-ids`
(one prefill, then log p(token i | tokens < i) at every position, through the
same MatMul / Attention kernels as the engine) and numpy_llama_ref.NumpyLlama
(every op in float64 over the dequantised weights), and prints the largest
per-token |difference| and the largest |difference| of whole-sequence sums.
Exit status 0 when the sequence sums agree within --tolerance (default 1e-3,
the `--exact-tolerance` of llama_cpp_compare.py).

  build-cpuspeed/venv/bin/python tests/reference/exact_logprobs.py \
      --bench build-cpuspeed/bin/proctor_engine_bench \
      --model data-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_cpp_compare import FEWSHOT  # noqa: E402
from numpy_llama_ref import NumpyLlama  # noqa: E402

import llama_cpp  # noqa: E402

TEXTS = [
    FEWSHOT * 3,
    "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + "
    "fibonacci(n - 2)\n\nprint([fibonacci(i) for i in range(10)])\n",
    "Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many "
    "clips in May. How many clips did Natalia sell altogether in April and May?\nAnswer:",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/bin/proctor_engine_bench")
    ap.add_argument("--model", default="data-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=1e-3)
    a = ap.parse_args()
    vocab = llama_cpp.Llama(model_path=a.model, vocab_only=True, verbose=False)
    exact = NumpyLlama(a.model)
    worst_tok, worst_sum, tokens = 0.0, 0.0, 0
    for text in TEXTS:
        ids = vocab.tokenize(text.encode(), add_bos=False, special=False)
        r = subprocess.run([a.bench, "--model", a.model, "--threads", str(a.threads),
                            "--score-ids", ",".join(map(str, ids))],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("proctor_engine_bench --score-ids failed: " + r.stderr)
        got = [float(line.split("\t")[1]) for line in r.stdout.splitlines()]
        lp = exact.log_probs(ids)
        want = [float(lp[i - 1, ids[i]]) for i in range(1, len(ids))]
        assert len(got) == len(want), (len(got), len(want))
        d_tok = max(abs(g - w) for g, w in zip(got, want))
        d_sum = abs(sum(got) - sum(want))
        worst_tok, worst_sum = max(worst_tok, d_tok), max(worst_sum, d_sum)
        tokens += len(ids)
        print("%3d tokens: max |d log p| per token %.2e, |d sum| %.2e (sum %.4f)" %
              (len(ids), d_tok, d_sum, sum(want)))
    print("%d tokens in %d texts: max per-token |diff| %.2e, max sequence-sum |diff| %.2e" %
          (tokens, len(TEXTS), worst_tok, worst_sum))
    ok = worst_sum <= a.tolerance
    print("RESULT: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
