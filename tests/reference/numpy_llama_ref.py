#!/usr/bin/env python3
"""Exact float64 reference forward pass of a llama-architecture GGUF in numpy.

Weights are dequantized with the `gguf` package (gguf.quants.dequantize), then
every operation runs in float64: RMSNorm, adjacent-pair ("normal") RoPE, GQA
causal attention, SwiGLU, tied or separate output matrix. Unlike llama.cpp,
activations are never quantized, so Proctor's F32-activation engine should
agree to ~1e-4 on sequence log-likelihoods.

Usage (ids from `proctor model tokenize MODEL TEXT --no-bos`):
  numpy_llama_ref.py MODEL IDS_COMMA_SEPARATED SCORE_FROM
prints Σ log p(ids[i] | ids[:i]) for i >= SCORE_FROM.
Slow to load (about a minute for a 135M model); meant for spot checks.
"""
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


class NumpyLlama:
    def __init__(self, path):
        r = GGUFReader(path)
        arch = r.fields["general.architecture"].contents()
        if arch != "llama":
            raise ValueError("%s: architecture %s, only llama is supported" % (path, arch))
        f = lambda k: r.fields["%s.%s" % (arch, k)].contents()
        self.n_layers = f("block_count")
        self.dim = f("embedding_length")
        self.n_heads = f("attention.head_count")
        self.n_kv = f("attention.head_count_kv")
        self.head_dim = self.dim // self.n_heads
        self.eps = f("attention.layer_norm_rms_epsilon")
        self.theta = f("rope.freq_base") if "%s.rope.freq_base" % arch in r.fields else 10000.0
        self.w = {}
        for t in r.tensors:
            a = dequantize(t.data, t.tensor_type).astype(np.float64)
            shape = [int(x) for x in reversed(t.shape.tolist())]
            self.w[t.name] = a.reshape(shape)

    def _rms(self, x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + self.eps) * w

    def _rope(self, x, pos):
        hd = self.head_dim
        inv = self.theta ** (-2.0 * np.arange(hd // 2) / hd)
        ang = pos[:, None] * inv[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    def log_probs(self, tokens):
        """[len(tokens), vocab] float64 log-softmax of the logits at each position."""
        t, hd, nh, nkv = len(tokens), self.head_dim, self.n_heads, self.n_kv
        w = self.w
        x = w["token_embd.weight"][tokens]
        pos = np.arange(t, dtype=np.float64)
        mask = np.triu(np.full((t, t), -np.inf), 1)
        for l in range(self.n_layers):
            p = "blk.%d." % l
            h = self._rms(x, w[p + "attn_norm.weight"])
            q = self._rope((h @ w[p + "attn_q.weight"].T).reshape(t, nh, hd), pos)
            k = self._rope((h @ w[p + "attn_k.weight"].T).reshape(t, nkv, hd), pos)
            v = (h @ w[p + "attn_v.weight"].T).reshape(t, nkv, hd)
            out = np.empty((t, nh, hd))
            for hh in range(nh):
                kv = hh // (nh // nkv)
                s = q[:, hh] @ k[:, kv].T / np.sqrt(hd) + mask
                s = np.exp(s - s.max(-1, keepdims=True))
                out[:, hh] = (s / s.sum(-1, keepdims=True)) @ v[:, kv]
            x = x + out.reshape(t, -1) @ w[p + "attn_output.weight"].T
            h = self._rms(x, w[p + "ffn_norm.weight"])
            g, u = h @ w[p + "ffn_gate.weight"].T, h @ w[p + "ffn_up.weight"].T
            x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "ffn_down.weight"].T
        x = self._rms(x, w["output_norm.weight"])
        lg = x @ w.get("output.weight", w["token_embd.weight"]).T
        m = lg.max(-1, keepdims=True)
        return lg - m - np.log(np.exp(lg - m).sum(-1, keepdims=True))

    def score(self, tokens, score_from):
        lp = self.log_probs(tokens)
        return float(sum(lp[i - 1, tokens[i]] for i in range(score_from, len(tokens))))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    ids = [int(x) for x in sys.argv[2].split(",")]
    print("%.6f" % NumpyLlama(sys.argv[1]).score(ids, int(sys.argv[3])))
