#!/usr/bin/env python3
"""Proctor's CUDA engine vs Hugging Face transformers on random-weight Llama models.

The end-to-end part of scripts/gpu-check (see docs/design/cuda-backend.md). For each
shape it, on the local GPU:

  1. builds a random-weight LlamaForCausalLM (seeded) directly on the GPU in F32 and takes
     F32 reference logits of sequence 0 (the "exact" answer),
  2. converts it to BF16, writes config.json + model.safetensors (what Proctor loads),
     takes BF16 + SDPA logits of sequence 0 and times the scoring of B sequences of T tokens
     (one batched forward, F32 log-softmax, gather of the next-token log-probabilities),
  3. frees the GPU and runs `proctor_cuda_bench` on the same files and tokens: logits of
     sequence 0 (--logits_out) and the best-of-R time of the same scoring work,
  4. prints max |error| vs the F32 reference for both BF16 implementations, argmax agreement,
     and tokens/s of both with their ratio.

Pass criterion (FlashAttention's convention): Proctor's max error against the F32 reference
is at most 2x that of transformers BF16 (+1e-3), and the argmax agrees on >= 95% of positions.
Timings are reported, never asserted. Exit status: 0 pass, 1 a check failed, 2 no GPU / no torch.

  python3 tests/reference/hf_llama_compare.py --bench BUILD/bin/proctor_cuda_bench \\
      --workdir /tmp/hfcmp [--shapes 7b,small] [--nccl-at-tp1]

Needs torch with CUDA, transformers and safetensors (present on the GPU machines).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

SHAPES = {
    # Llama-2-7B shapes (context shortened to what is scored: the KV plan stays small). Every
    # layer has 7B's dimensions; --layers-7b (default 8 of 32) keeps the checkpoint at 3.4 GB so
    # the whole of scripts/gpu-check fits a lent machine's minutes. Per-layer work is what the
    # tokens/s ratio compares; pass --layers-7b 32 for the full depth.
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
               max_position_embeddings=4096, batch=8, seq=512),
    # A small GQA shape (4 query heads per KV head).
    "small": dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=4,
                  num_attention_heads=16, num_key_value_heads=4, vocab_size=32000,
                  max_position_embeddings=2048, batch=8, seq=512),
}


def log(msg):
    print("[hf_llama_compare] " + msg, flush=True)


def hf_score_time(model, ids, repeat):
    import torch
    best = float("inf")
    total = 0.0
    for it in range(repeat + 1):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            logits = model(ids).logits.float()
            lp = torch.log_softmax(logits[:, :-1], dim=-1)
            got = lp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            total = float(got.sum())
        torch.cuda.synchronize()
        if it > 0:
            best = min(best, time.perf_counter() - t0)
    return best, total


def run_shape(name, spec, args):
    import numpy as np
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    batch, seq = spec.pop("batch"), spec.pop("seq")
    workdir = os.path.join(args.workdir, name)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    cfg = LlamaConfig(**spec, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                      attn_implementation="sdpa")
    torch.manual_seed(args.seed)
    gen = torch.Generator(device="cuda").manual_seed(args.seed)
    ids = torch.randint(0, cfg.vocab_size, (batch, seq), device="cuda", generator=gen)
    ids.to(torch.int32).cpu().numpy().astype("<i4").tofile(os.path.join(workdir, "tokens.bin"))

    log(f"{name}: building the random model on the GPU")
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():
        ref32 = model(ids[:1]).logits[0].float().cpu().numpy()
    model = model.to(torch.bfloat16)
    model.save_pretrained(workdir, safe_serialization=True, max_shard_size="64GB")
    with torch.no_grad():
        hf16 = model(ids[:1]).logits[0].float().cpu().numpy()
    hf_s, hf_sum = hf_score_time(model, ids, args.repeat)
    del model
    torch.cuda.empty_cache()

    logits_path = os.path.join(workdir, "proctor_logits.f32")
    cmd = [args.bench, f"--model={workdir}", f"--tokens={os.path.join(workdir, 'tokens.bin')}",
           f"--batch={batch}", f"--seq={seq}", f"--logits_out={logits_path}",
           f"--repeat={args.repeat}"]
    if args.nccl_at_tp1:
        cmd.append("--nccl_at_tp1")
    log(f"{name}: {' '.join(cmd)}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if out.returncode != 0:
        log(f"{name}: proctor_cuda_bench failed:\n{out.stderr}")
        return False
    res = json.loads(out.stdout.strip().splitlines()[-1])
    ours = np.fromfile(logits_path, dtype="<f4").reshape(seq, cfg.vocab_size)

    err_hf = float(np.abs(hf16 - ref32).max())
    err_ours = float(np.abs(ours - ref32).max())
    agree_hf = float((hf16.argmax(-1) == ref32.argmax(-1)).mean())
    agree_ours = float((ours.argmax(-1) == ref32.argmax(-1)).mean())
    toks = batch * seq
    ratio = (toks / res["seconds"]) / (toks / hf_s)
    ok = err_ours <= 2.0 * err_hf + 1e-3 and agree_ours >= 0.95
    print(json.dumps({
        "bench": "hf_llama_compare", "shape": name, "batch": batch, "seq": seq,
        "max_abs_logit": float(np.abs(ref32).max()),
        "max_err_vs_f32": {"proctor_bf16": err_ours, "hf_bf16_sdpa": err_hf},
        "argmax_agree_vs_f32": {"proctor_bf16": agree_ours, "hf_bf16_sdpa": agree_hf},
        "score_tokens_per_s": {"proctor": toks / res["seconds"], "hf_bf16_sdpa": toks / hf_s},
        "proctor_over_hf": ratio, "sum_logprob": {"proctor": res["sum_logprob"], "hf": hf_sum},
        "plan": res["plan"], "pass": ok}), flush=True)
    log(f"{name}: max err vs F32: proctor {err_ours:.4f}, transformers {err_hf:.4f}; "
        f"argmax agree {agree_ours:.3f} / {agree_hf:.3f}; scoring {toks / res['seconds']:.0f} vs "
        f"{toks / hf_s:.0f} tokens/s (x{ratio:.2f}) -> {'PASS' if ok else 'FAIL'}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", required=True, help="path of proctor_cuda_bench")
    p.add_argument("--workdir", required=True)
    p.add_argument("--shapes", default="7b,small")
    p.add_argument("--nccl-at-tp1", action="store_true", help="collectives through NCCL at tp 1")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--timeout", type=int, default=300)
    p.add_argument("--keep", action="store_true", help="keep the written checkpoints")
    p.add_argument("--layers-7b", type=int, default=8,
                   help="decoder layers of the 7b shape (Llama-2-7B has 32)")
    args = p.parse_args()
    try:
        import torch
        if not torch.cuda.is_available():
            log("torch sees no GPU")
            return 2
        import transformers  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as e:
        log(f"missing Python package: {e}")
        return 2
    ok = True
    for name in args.shapes.split(","):
        if name not in SHAPES:
            log(f"unknown shape {name}; known: {', '.join(SHAPES)}")
            return 1
        spec = dict(SHAPES[name])
        if name == "7b":
            spec["num_hidden_layers"] = args.layers_7b
        ok = run_shape(name, spec, args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
