#!/usr/bin/env python3
"""Compares Proctor's CPU engine with llama.cpp (llama-cpp-python) on one GGUF.

Not part of CTest: it needs a real model and llama-cpp-python. See README.md.

Checks, in order, each printing its figures:
  1. tokenizer ids (no BOS) on hand-written strings and real smoke-suite prompts;
     BOS policy (what llama.cpp adds with add_bos=True vs Proctor's EncodeWithBos);
  2. per-continuation log-likelihoods of multiple-choice options (SUITE.md rule 1
     join), Proctor `proctor model score` vs llama.cpp logits_all + numpy
     log-softmax: max |diff|, and whether the argmax choice agrees;
  3. greedy generation of N tokens: identical text or not;
  4. speed, same thread count, best of R runs of each, back to back: prompt
     processing tok/s on a P-token prompt and decode tok/s.
Exit status 0 when every check is within tolerance, 1 otherwise.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import llama_cpp


def log(msg=""):
    print(msg, flush=True)


class Proctor:
    def __init__(self, binary, bench, model, threads):
        self.binary, self.bench, self.model, self.threads = binary, bench, model, threads

    def _run(self, args):
        r = subprocess.run([self.binary, "model"] + args, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError("proctor %s failed: %s" % (args[0], r.stderr.decode(errors="replace")))
        return r.stdout.decode("utf-8", errors="surrogateescape"), r.stderr.decode(errors="replace")

    def tokenize(self, text, bos=False):
        out, _ = self._run(["tokenize", self.model, text] + ([] if bos else ["--no-bos"]))
        return [int(line.split("\t", 1)[0]) for line in out.splitlines() if line]

    def score(self, context, continuations):
        out, _ = self._run(["score", self.model, context] + list(continuations) +
                           ["--threads", str(self.threads)])
        res = []
        for line in out.splitlines():
            f = line.split("\t")
            res.append((float(f[0]), int(f[1]), f[2] == "greedy"))
        return res

    def generate(self, prompt, n):
        out, err = self._run(["generate", self.model, prompt, "--max-tokens", str(n),
                              "--threads", str(self.threads)])
        assert out.startswith(prompt), "generate echoes the prompt first"
        return out[len(prompt):-1]  # the command appends "\n"

    def speed(self, prompt_tokens, decode_tokens):
        r = subprocess.run([self.bench, "--model", self.model, "--threads", str(self.threads),
                            "--prefill-tokens", str(prompt_tokens), "--decode-tokens",
                            str(decode_tokens), "--speed-only"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("proctor_engine_bench failed: " + r.stderr)
        pp = float(re.search(r"prefill: .*= ([0-9.]+) tokens/s", r.stdout).group(1))
        tg = float(re.search(r"decode: .*= ([0-9.]+) tokens/s", r.stdout).group(1))
        return pp, tg


def log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


class Reference:
    def __init__(self, model, threads, n_ctx):
        self.model = model
        self.vocab = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
        self.llm = llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_batch=512, n_ubatch=512,
                                   n_threads=threads, n_threads_batch=threads, logits_all=True,
                                   type_k=0, type_v=0,  # F32 KV cache: less rounding
                                   verbose=False)

        # End-of-generation ids: EOS and the chat/end-of-text control tokens.
        self.eog = {self.vocab.token_eos()}
        for t in ("<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
            ids = self.vocab.tokenize(t.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self.eog.add(ids[0])

    def tokenize(self, text, bos=False):
        return self.vocab.tokenize(text.encode("utf-8"), add_bos=bos, special=False)

    def detok(self, ids):
        return self.vocab.detokenize(ids).decode("utf-8", errors="replace")

    def start_token(self):
        b = self.vocab.token_bos()
        return b if b >= 0 else self.vocab.token_eos()

    def sequence(self, context, continuation):
        """SUITE.md rules 1-2, as Proctor's JobRunner::LoglikelihoodSequence."""
        cut = len(context.rstrip(" \t\n\r\v\f"))
        continuation = context[cut:] + continuation
        context = context[:cut]
        if not context:
            return [self.start_token()] + self.tokenize(continuation), 1
        # add_special=True: llama.cpp prepends BOS only when the GGUF asks for it.
        ctx = self.tokenize(context, bos=True)
        full = self.tokenize(context + continuation, bos=True)
        k = 0
        while k < len(ctx) and k < len(full) and ctx[k] == full[k]:
            k += 1
        if k == 0:
            return [self.start_token()] + full, 1
        return full, k

    def logprobs(self, tokens):
        """log p(tokens[i] | tokens[:i]) for i >= 1, and per-position argmax."""
        self.llm.reset()
        self.llm.eval(tokens[:-1])
        lp = log_softmax(np.array(self.llm.scores[: len(tokens) - 1]))
        picked = np.array([lp[i - 1, tokens[i]] for i in range(1, len(tokens))])
        greedy = np.array([lp[i - 1].argmax() == tokens[i] for i in range(1, len(tokens))])
        return picked, greedy

    def margin(self, prompt_ids, forced, at):
        """llama.cpp's log p(its own argmax) - log p(forced[at]) after prompt+forced[:at]."""
        self.llm.reset()
        self.llm.eval(prompt_ids + forced[:at])
        lp = log_softmax(np.array(self.llm.scores[self.llm.n_tokens - 1]))
        return float(lp.max() - lp[forced[at]])

    def greedy(self, prompt, n):
        toks = self.tokenize(prompt)
        self.llm.reset()
        self.llm.eval(toks)
        out = []
        for _ in range(n):
            nxt = int(np.argmax(self.llm.scores[self.llm.n_tokens - 1]))
            if nxt in self.eog:
                break
            out.append(nxt)
            self.llm.eval([nxt])
        return out

    def speed(self, prompt_tokens, decode_tokens, threads):
        """Prompt and decode tokens/s; logits only for the last position, like
        Proctor's prefill (which computes no logits) and decode (one row)."""
        if not hasattr(self, "fast"):
            self.fast = llama_cpp.Llama(model_path=self.model, n_ctx=2048, n_batch=512,
                                        n_ubatch=512, n_threads=threads,
                                        n_threads_batch=threads, logits_all=False, verbose=False)
        text, toks = "", []
        while len(toks) < prompt_tokens:
            text += FEWSHOT
            toks = self.tokenize(text)
        toks = toks[:prompt_tokens]
        self.fast.reset()
        t0 = time.perf_counter()
        self.fast.eval(toks)
        pp = len(toks) / (time.perf_counter() - t0)
        self.fast.reset()
        self.fast.eval(self.tokenize("Once upon a time"))
        t0 = time.perf_counter()
        for _ in range(decode_tokens):
            nxt = int(np.argmax(self.fast.scores[self.fast.n_tokens - 1]))
            self.fast.eval([nxt])
        tg = decode_tokens / (time.perf_counter() - t0)
        return pp, tg


FEWSHOT = ("Question: What is the boiling point of water at sea level?\nAnswer: 100 degrees "
           "Celsius, or 212 degrees Fahrenheit.\n\n")

HAND_STRINGS = [
    "Hello world",
    " Hello  world  ",
    "It's 3.14159, isn't it? Don't—won't! I'll we've they're",
    "1234567890 12 345 6789 $1,000.50 10% 2026-11-27",
    "line one\nline two\n\n\nline five\r\n\ttabbed   spaces",
    "naïve café résumé Zürich Ελληνικά русский 日本語 中文 한국어 🙂👍🏽 ∑∫√",
    "def f(x):\n    return x**2  # comment\n",
    "<|im_start|>user\nhi<|im_end|>",
    "   leading spaces and trailing   ",
    "ALL CAPS And MiXeD cAsE... ?!?! ((nested)) [brackets] {braces}",
    "\n\n\n",
    "no\u00a0break\u3000ideographic\u2003em space, zero\u200bwidth",
    "x² ½ Ⅻ ٣٤٥ ① ¹²³ 𝟘𝟙",
    "e\u0301 combining, ﬁ ligature, Å vs \u212b",
    "tabs\t\tthen \n \n  \n\t",
    "'s 'S 'Ll 'LL it'S",
    " ",
    "a",
]


def load_jsonl(path, n):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
            if len(out) >= n:
                break
    return out


def smoke_items(data_dir, n):
    """(set, context, [continuations], gold) as Proctor's registry renders them."""
    items = []
    for r in load_jsonl(os.path.join(data_dir, "arc/ARC-Easy-Dev.jsonl"), n):
        q = r["question"]
        ctx = "Question: %s\nAnswer: \n" % q["stem"]
        labels = [c["label"] for c in q["choices"]]
        items.append(("arc_e", ctx, [c["text"] for c in q["choices"]],
                      labels.index(r["answerKey"]) if r["answerKey"] in labels else -1))
    piqa = load_jsonl(os.path.join(data_dir, "piqa/dev.jsonl"), n)
    with open(os.path.join(data_dir, "piqa/dev-labels.lst")) as f:
        plabels = [int(x) for x in f.read().split()]
    for r, g in zip(piqa, plabels):
        items.append(("piqa", "The following makes sense: \nQ: %s\nA: " % r["goal"],
                      [r["sol1"] + "\n", r["sol2"] + "\n"], g))
    for r in load_jsonl(os.path.join(data_dir, "boolq/val.jsonl"), n):
        items.append(("boolq", "%s\nQuestion: %s?\n" % (r["passage"], r["question"]),
                      ["Yes", "No"], 0 if str(r["label"]).lower() == "true" else 1))
    return items


def gsm8k_prompts(data_dir, n):
    return ["Question: %s\nLet's think step by step\nAnswer:" % r["question"]
            for r in load_jsonl(os.path.join(data_dir, "gsm8k/test.jsonl"), n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="data-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--proctor", default="build/bin/proctor")
    ap.add_argument("--bench", default=None, help="proctor_engine_bench (default: beside --proctor)")
    ap.add_argument("--data-dir", default=os.path.join(
        os.environ.get("PROCTOR_SHARED_DATA", "/work/shared/data"), "datasets"))
    ap.add_argument("--samples", type=int, default=10, help="items per smoke set")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--gen-prompts", type=int, default=3)
    ap.add_argument("--speed-prompt", type=int, default=512)
    ap.add_argument("--speed-decode", type=int, default=64)
    ap.add_argument("--speed-runs", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=1.0,
                    help="max |Δ log-likelihood| per continuation vs llama.cpp, whose CPU "
                         "matmuls round activations to 8 bits (Q8_1/Q8_0)")
    ap.add_argument("--exact-tolerance", type=float, default=1e-3,
                    help="max |Δ log-likelihood| per continuation vs the float64 numpy forward")
    ap.add_argument("--fork-margin", type=float, default=0.5,
                    help="max llama.cpp log-prob gap at a point where greedy paths fork")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--numpy", action="store_true",
                    help="also score every option with the exact float64 numpy forward "
                         "(numpy_llama_ref.py; needs the gguf package)")
    a = ap.parse_args()
    bench = a.bench or os.path.join(os.path.dirname(a.proctor), "proctor_engine_bench")
    px = Proctor(a.proctor, bench, a.model, a.threads)
    ref = Reference(a.model, a.threads, 4096)
    ok = True
    log("llama-cpp-python %s, model %s, threads %d" % (llama_cpp.__version__, a.model, a.threads))

    # 1. Tokenizer.
    items = smoke_items(a.data_dir, a.samples)
    texts = HAND_STRINGS + [c for _, c, _, _ in items] + [c + o for _, c, opts, _ in items for o in opts]
    texts += gsm8k_prompts(a.data_dir, a.samples)
    bad = 0
    for t in texts:
        p, r = px.tokenize(t), ref.tokenize(t)
        if p != r:
            bad += 1
            if bad <= 5:
                log("  TOKEN MISMATCH %r\n    proctor %s\n    llama   %s" % (t[:80], p[:40], r[:40]))
    log("[tokenize] %d/%d strings identical (no BOS)" % (len(texts) - bad, len(texts)))
    ok &= bad == 0
    pb, rb = px.tokenize("Hello", bos=True), ref.tokenize("Hello", bos=True)
    log("[bos] llama.cpp add_bos=True gives %s, proctor EncodeWithBos gives %s, start token "
        "(rule 2) %d" % (rb, pb, ref.start_token()))
    ok &= pb == rb

    # 2. Log-likelihoods.
    max_diff, n_cont, agree, gold_p, gold_r = 0.0, 0, 0, 0, 0
    npref, np_p, np_r = None, 0.0, 0.0
    per_set = {}  # set -> [items, proctor correct, llama.cpp correct]
    if a.numpy:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from numpy_llama_ref import NumpyLlama
        npref = NumpyLlama(a.model)
    for name, ctx, opts, gold in items:
        ps = px.score(ctx, opts)
        rs = []
        for o in opts:
            toks, k = ref.sequence(ctx, o)
            lp, gr = ref.logprobs(toks)
            rs.append((float(lp[k - 1:].sum()), len(toks) - k, bool(gr[k - 1:].all())))
            if npref is not None:
                exact = npref.score(toks, k)
                np_p = max(np_p, abs(ps[len(rs) - 1][0] - exact))
                np_r = max(np_r, abs(rs[-1][0] - exact))
        for (plp, pn, pg), (rlp, rn, rg) in zip(ps, rs):
            n_cont += 1
            if pn != rn:
                ok = False
                log("  %s: continuation token count differs: proctor %d llama %d" % (name, pn, rn))
            max_diff = max(max_diff, abs(plp - rlp))
        pa = int(np.argmax([x[0] for x in ps]))
        ra = int(np.argmax([x[0] for x in rs]))
        agree += pa == ra
        gold_p += pa == gold
        gold_r += ra == gold
        c = per_set.setdefault(name, [0, 0, 0])
        c[0], c[1], c[2] = c[0] + 1, c[1] + (pa == gold), c[2] + (ra == gold)
    log("[loglikelihood] %d continuations of %d questions: max |diff| %.2e, argmax agrees on "
        "%d/%d; accuracy (raw ll) proctor %d/%d, llama.cpp %d/%d" %
        (n_cont, len(items), max_diff, agree, len(items), gold_p, len(items), gold_r, len(items)))
    ok &= max_diff <= a.tolerance
    log("[loglikelihood] raw-ll accuracy per set (proctor / llama.cpp of n): " +
        ", ".join("%s %d/%d of %d" % (k, v[1], v[2], v[0]) for k, v in per_set.items()))
    if npref is not None:
        log("[loglikelihood] vs exact float64 numpy forward: max |diff| proctor %.2e, "
            "llama.cpp %.2e" % (np_p, np_r))
        ok &= np_p <= a.exact_tolerance

    # 3. Greedy generation.
    # A greedy path may legitimately fork where the two best tokens are within
    # the engines' rounding noise; a fork is accepted when llama.cpp itself
    # ranks Proctor's token within --fork-margin nats of its own choice.
    gen_same, gen_ok = 0, 0
    prompts = ["The capital of France is"] + gsm8k_prompts(a.data_dir, a.gen_prompts - 1)
    for pr in prompts:
        ptext = px.generate(pr, a.gen_tokens)
        rids = ref.greedy(pr, a.gen_tokens)
        rtext = ref.detok(rids)
        if ptext == rtext:
            gen_same += 1
            gen_ok += 1
            continue
        pids = ref.tokenize(ptext)  # byte-level BPE round-trips Proctor's text
        k = 0
        while k < len(pids) and k < len(rids) and pids[k] == rids[k]:
            k += 1
        pid = ref.tokenize(pr)
        if k < len(pids):
            m = ref.margin(pid, pids, k)
        else:  # Proctor stopped (end of generation) where llama.cpp went on
            m = float("nan")
        fine = k < len(pids) and m <= a.fork_margin
        gen_ok += fine
        log("  generation forks after %d tokens (llama.cpp margin of its choice over proctor's "
            "%.3f nats%s) for %r\n    proctor %r\n    llama   %r" %
            (k, m, "" if fine else ", TOO LARGE", pr[-40:], ptext, rtext))
    log("[generate] %d/%d prompts give the same %d-token greedy text; %d/%d same or forking "
        "at a near-tie (<= %.2f nats)" % (gen_same, len(prompts), a.gen_tokens, gen_ok,
                                          len(prompts), a.fork_margin))
    ok &= gen_ok == len(prompts)

    # 4. Speed.
    if not a.skip_speed:
        best = {"p_pp": 0, "p_tg": 0, "r_pp": 0, "r_tg": 0}
        for _ in range(a.speed_runs):
            pp, tg = px.speed(a.speed_prompt, a.speed_decode)
            best["p_pp"], best["p_tg"] = max(best["p_pp"], pp), max(best["p_tg"], tg)
            pp, tg = ref.speed(a.speed_prompt, a.speed_decode, a.threads)
            best["r_pp"], best["r_tg"] = max(best["r_pp"], pp), max(best["r_tg"], tg)
        log("[speed] threads=%d, best of %d: prompt %d tok: proctor %.1f tok/s, llama.cpp %.1f "
            "tok/s (ratio %.2f); decode: proctor %.1f tok/s, llama.cpp %.1f tok/s (ratio %.2f)" %
            (a.threads, a.speed_runs, a.speed_prompt, best["p_pp"], best["r_pp"],
             best["p_pp"] / best["r_pp"], best["p_tg"], best["r_tg"], best["p_tg"] / best["r_tg"]))
    log("RESULT: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
