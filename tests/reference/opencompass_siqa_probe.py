#!/usr/bin/env python3
"""SIQA under three prompt formats and three ranking rules, with one engine.

The evidence behind docs/results/smollm2-135m.md ("Why SIQA scored below
chance"). For the first N samples of the SIQA dev split it scores, with
`proctor model score MODEL "" TEXT...` (empty context: every token after BOS
is scored), each sample's context alone and context + each option, in the
format of
  proctor   Proctor's template before 2026-11-27: "{context} \\nQ: {question}\\nA: {answer}"
  oc        OpenCompass siqa_ppl_ced5f6: "{context}\\nQuestion: {question}\\nAnswer:\\n{answer}"
  lmeval    lm-evaluation-harness social_iqa: "Q: {context} {question}\\nA: {answer}"
and reports, per format, the accuracy (± standard error) of
  acc_ll    highest log p(option | context) = log p(whole) - log p(context)
  acc_norm  the same per character of the option
  oc_ppl    highest mean log p per token of the whole text (OpenCompass PPL)
with how often each rule picks the shortest option and the predicted
positions (position bias). Slow: about 0.6 s of CPU per sample and format.

  opencompass_siqa_probe.py --proctor build/bin/proctor \\
      --model data-cache/models/SmolLM2-135M-Instruct.Q4_1.gguf \\
      --data ../shared/data/datasets --samples 300 --formats proctor,oc
"""

import argparse
import json
import math
import os
import subprocess
import sys
from collections import Counter

FORMATS = {
    'proctor': (lambda d: f"{d['context']} \nQ: {d['question']}\nA:", ' '),
    'oc': (lambda d: f"{d['context']}\nQuestion: {d['question']}\nAnswer:", '\n'),
    'lmeval': (lambda d: f"Q: {d['context']} {d['question']}\nA:", ' '),
}


def score(args, texts):
    out = subprocess.run([args.proctor, 'model', 'score', args.model, ''] + texts +
                         ['--threads', str(args.threads)],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.split('\n'):
        parts = line.split('\t')
        if len(parts) >= 2:
            try:
                rows.append((float(parts[0]), int(parts[1])))
            except ValueError:
                pass
    if len(rows) != len(texts):
        raise RuntimeError(f'expected {len(texts)} scores, got {len(rows)}')
    return rows


def report(fmt, docs, labels, scores):
    n = len(labels)
    right, shortest_picks, positions = Counter(), Counter(), {}
    for i, d in enumerate(docs):
        (ctx_lp, _), full = scores[4 * i], scores[4 * i + 1:4 * i + 4]
        opts = [d['answer' + k] for k in 'ABC']
        cond = [lp - ctx_lp for lp, _ in full]
        rules = {
            'acc_ll': cond,
            'acc_norm': [cond[j] / max(1, len(opts[j]) + 1) for j in range(3)],
            'oc_ppl': [lp / max(1, ntok) for lp, ntok in full],
        }
        shortest = min(range(3), key=lambda j: len(opts[j]))
        for rule, vals in rules.items():
            pred = vals.index(max(vals))
            right[rule] += pred == labels[i] - 1
            shortest_picks[rule] += pred == shortest
            positions.setdefault(rule, Counter())[pred] += 1
    print(f'{fmt}: n={n}')
    for rule in ('acc_ll', 'acc_norm', 'oc_ppl'):
        p = right[rule] / n
        se = math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else 0
        print(f'  {rule:8s} {100 * p:5.1f} ± {100 * se:.1f}   picks the shortest option '
              f'{100 * shortest_picks[rule] / n:3.0f}%   predicted A/B/C '
              f'{[positions[rule][k] for k in range(3)]}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--proctor', required=True)
    ap.add_argument('--model', required=True)
    ap.add_argument('--data', required=True)
    ap.add_argument('--samples', type=int, default=300)
    ap.add_argument('--formats', default='proctor,oc')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--batch', type=int, default=400, help='texts per proctor call')
    args = ap.parse_args()
    base = os.path.join(args.data, 'siqa')
    with open(os.path.join(base, 'dev.jsonl'), encoding='utf-8') as f:
        docs = [json.loads(line) for line in f][:args.samples]
    with open(os.path.join(base, 'dev-labels.lst'), encoding='utf-8') as f:
        labels = [int(line) for line in f][:args.samples]
    counts = Counter(labels)
    print(f'gold labels of these {len(labels)} samples: 1/2/3 = '
          f'{counts[1]}/{counts[2]}/{counts[3]}; gold is the shortest option in '
          f'{sum(min(range(3), key=lambda j: len(d["answer" + "ABC"[j]])) == l - 1 for d, l in zip(docs, labels))}')
    for fmt in args.formats.split(','):
        render, sep = FORMATS[fmt]
        texts = []
        for d in docs:
            ctx = render(d)
            texts += [ctx] + [ctx + sep + d['answer' + k] for k in 'ABC']
        scores = []
        for b in range(0, len(texts), args.batch):
            scores += score(args, texts[b:b + args.batch])
        report(fmt, docs, labels, scores)
    return 0


if __name__ == '__main__':
    sys.exit(main())
