#!/usr/bin/env python3
"""Checks Proctor's prompts against OpenCompass's rendering of the same samples.

For each checked set, the first N samples of the real data are planned by the
`proctor` binary (`proctor eval --engine scripted`, so the prompts are those
of the real planner) and read back from its store; the same records are
rendered through the OpenCompass config that SUITE.md's base_medium.py names,
by OpenCompass's own template code (opencompass_render.py). Compared per
sample:
  PPL sets: the multiset of whole texts (few-shot prefix + context + option),
            which is what OpenCompass's PPLInferencer scores, and the text of
            the gold option;
  Gen sets: the whole prompt (prefix + context).
Differences are printed as a unified diff; the exit status is 1 when any
checked set differs, 2 on a usage or setup error.

Usage (scripts/check-templates wraps it):
  opencompass_templates.py --opencompass DIR/opencompass --proctor BIN \
      --data DATA_DIR [--samples 3] [--sets siqa,piqa]
"""

import argparse
import csv
import difflib
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import opencompass_render  # noqa: E402


# --------------------------------------------------------------------------
# Reading Proctor's plan back from its SQLite store (protobuf wire format,
# decoded by field number: Job.prefixes = 6, Job.requests = 7; Request:
# request_id = 1, prefix_index = 2, loglikelihood = 10, generate = 12;
# LoglikelihoodRequest/GenerateRequest: context = 1, continuations = 2;
# SampleTarget.gold = 1).

def _varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def _fields(b):
    out, i = [], 0
    while i < len(b):
        key, i = _varint(b, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = _varint(b, i)
        elif w == 1:
            v, i = b[i:i + 8], i + 8
        elif w == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif w == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f'wire type {w} at offset {i}')
        out.append((f, v))
    return out


def _get(fields, num, default=None):
    for f, v in fields:
        if f == num:
            return v
    return default


def read_plan(store_path):
    """{(dataset, index): {'gold': int, 'requests': [(kind, prefix, ctx, [conts])]}}."""
    db = sqlite3.connect(store_path)
    requests = {}
    for (payload,) in db.execute('SELECT payload FROM job_payloads'):
        job = _fields(payload)
        prefixes = [v.decode() for f, v in job if f == 6]
        for f, v in job:
            if f != 7:
                continue
            r = _fields(v)
            rid = _get(r, 1, 0)
            pidx = _get(r, 2, 0)
            prefix = prefixes[pidx - 1] if pidx else ''
            for kind in (10, 12):
                body = _get(r, kind)
                if body is None:
                    continue
                bf = _fields(body)
                ctx = _get(bf, 1, b'').decode()
                conts = [c.decode() for n, c in bf if n == 2] if kind == 10 else []
                requests[rid] = ('ll' if kind == 10 else 'gen', prefix, ctx, conts)
    plan = {}
    for dataset, index, target, ids in db.execute(
            'SELECT dataset, sample_index, target, request_ids FROM samples'):
        rids = struct.unpack(f'<{len(ids) // 8}q', ids)
        gold = _get(_fields(target), 1, 0)
        if gold >= 1 << 63:
            gold -= 1 << 64
        plan[(dataset, index)] = {'gold': gold, 'requests': [requests[i] for i in rids]}
    return plan


def proctor_texts(sample, num_options):
    """Whole option texts (PPL) or the prompt (Gen) of one planned sample."""
    reqs = sample['requests']
    if reqs[0][0] == 'gen':
        return reqs[0][1] + reqs[0][2]
    texts = []
    for kind, prefix, ctx, conts in reqs:
        for c in conts:
            if len(texts) < num_options:
                texts.append(prefix + ctx + c)
    return texts


# --------------------------------------------------------------------------
# The checked sets: Proctor name → OpenCompass config, and how a raw record
# becomes the entry OpenCompass's dataset class would produce.

def _jsonl(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def _lines(path):
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f]


def arc(data, name):
    rows = []
    for r in _jsonl(os.path.join(data, 'arc', name)):
        ch = r['question']['choices']
        e = {'question': r['question']['stem'], 'choices': len(ch)}
        if len(ch) == 4:  # ARCDataset drops the rest
            labels = [c['label'] for c in ch]
            e['answerKey'] = 'ABCD'[labels.index(r['answerKey'])]
            for k, c in zip('ABCD', ch):
                e['text' + k] = c['text']
        rows.append(e)
    return rows


def siqa(data):
    labels = _lines(os.path.join(data, 'siqa', 'dev-labels.lst'))
    return [dict(r, label=int(l)) for r, l in
            zip(_jsonl(os.path.join(data, 'siqa', 'dev.jsonl')), labels)]


def piqa(data):
    labels = _lines(os.path.join(data, 'piqa', 'dev-labels.lst'))
    return [dict(r, label=int(l)) for r, l in
            zip(_jsonl(os.path.join(data, 'piqa', 'dev.jsonl')), labels)]


def boolq(data):
    return [dict(r, answer=1 if str(r['label']).lower() == 'true' else 0)
            for r in _jsonl(os.path.join(data, 'boolq', 'val.jsonl'))]


def csqa(data):
    rows = []
    for r in _jsonl(os.path.join(data, 'commonsenseqa', 'valid.jsonl')):
        e = {'question': r['question']['stem'], 'answerKey': r['answerKey']}
        for c in r['question']['choices']:
            e[c['label']] = c['text']
        rows.append(e)
    return rows


def mmlu(data, split, subject):
    path = os.path.join(data, 'mmlu', 'data', split, f'{subject}_{split}.csv')
    with open(path, encoding='utf-8') as f:
        return [dict(zip(['input', 'A', 'B', 'C', 'D', 'target'], row)) for row in csv.reader(f)]


def gsm8k(data):
    return _jsonl(os.path.join(data, 'gsm8k', 'test.jsonl'))


def humaneval(data):
    import gzip
    with gzip.open(os.path.join(data, 'humaneval', 'HumanEval.jsonl.gz'), 'rt',
                   encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def mbpp(data):
    rows = _jsonl(os.path.join(data, 'mbpp', 'mbpp.jsonl'))[10:510]  # MBPPDataset's test split
    return [dict(r, test_list='\n'.join(r['test_list']), test_list_2='') for r in rows]


def _csqa_shots(sample, pool):
    """The few-shot records Proctor drew (seeded), found by their questions."""
    prefix = sample['requests'][0][1]
    found = []
    for r in pool:
        p = prefix.find('Question: ' + r['question'] + '\n')
        if p >= 0:
            found.append((p, r))
    return [r for _, r in sorted(found, key=lambda x: x[0])]


# name: (config, variable, index in the list, mode, rows(data), shots(data, sample, rows))
SETS = {
    'arc_e': ('ARC_e/ARC_e_ppl_a450bd.py', 'ARC_e_datasets', 0, 'ppl',
              lambda d: arc(d, 'ARC-Easy-Dev.jsonl'), None),
    'arc_c': ('ARC_c/ARC_c_ppl_a450bd.py', 'ARC_c_datasets', 0, 'ppl',
              lambda d: arc(d, 'ARC-Challenge-Dev.jsonl'), None),
    'siqa': ('siqa/siqa_ppl_ced5f6.py', 'siqa_datasets', 0, 'ppl', siqa, None),
    'piqa': ('piqa/piqa_ppl_1cf9f0.py', 'piqa_datasets', 0, 'ppl', piqa, None),
    'boolq': ('SuperGLUE_BoolQ/SuperGLUE_BoolQ_ppl_314b96.py', 'BoolQ_datasets', 0, 'ppl',
              boolq, None),
    'commonsenseqa': ('commonsenseqa/commonsenseqa_ppl_5545e2.py', 'commonsenseqa_datasets', 0,
                      'ppl', csqa, lambda d, s, rows: _csqa_shots(s, rows)),
    'mmlu_abstract_algebra': ('mmlu/mmlu_ppl_ac766d.py', 'mmlu_datasets', 'abstract_algebra',
                              'ppl', lambda d: mmlu(d, 'test', 'abstract_algebra'),
                              lambda d, s, rows: mmlu(d, 'dev', 'abstract_algebra')[:5]),
    'mmlu_high_school_physics': ('mmlu/mmlu_ppl_ac766d.py', 'mmlu_datasets',
                                 'high_school_physics', 'ppl',
                                 lambda d: mmlu(d, 'test', 'high_school_physics'),
                                 lambda d, s, rows: mmlu(d, 'dev', 'high_school_physics')[:5]),
    'gsm8k': ('gsm8k/gsm8k_gen_1d7fe4.py', 'gsm8k_datasets', 0, 'gen', gsm8k, None),
    'humaneval': ('humaneval/humaneval_gen_8e312c.py', 'humaneval_datasets', 0, 'gen', humaneval,
                  None),
    'mbpp': ('mbpp/deprecated_mbpp_gen_1e1056.py', 'mbpp_datasets', 0, 'gen', mbpp, None),
}


def _dataset_cfg(root, config, var, which):
    datasets = opencompass_render.read_config(root, config)[var]
    if isinstance(which, int):
        return datasets[which]
    for d in datasets:
        if d.get('name') == which or d.get('abbr', '').endswith(which):
            return d
    raise KeyError(f'{config}: no dataset {which}')


def plan_with_proctor(proctor, data, names, samples, work):
    store = os.path.join(work, 'store')
    cmd = [proctor, 'eval', '--engine', 'scripted', '--model', 'template-check',
           '--data-dir', data, '--store-dir', store, '--format', 'csv', '--workers', '1']
    for n in names:
        cmd += ['--dataset', f'{n}:{samples}']
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}')
    return read_plan(os.path.join(store, 'store.db'))


def _diff(a, b, label):
    return ''.join(difflib.unified_diff(
        [x + '\n' for x in a.split('\n')], [x + '\n' for x in b.split('\n')],
        f'proctor {label}', f'opencompass {label}'))


def check(args):
    root = args.opencompass
    opencompass_render.load(root)
    names = args.sets.split(',') if args.sets else list(SETS)
    unknown = [n for n in names if n not in SETS]
    if unknown:
        raise ValueError(f'--sets: not checked here: {unknown} (known: {", ".join(SETS)})')
    work = tempfile.mkdtemp(prefix='check-templates-')
    failures = 0
    try:
        plan = plan_with_proctor(args.proctor, args.data, names, args.samples, work)
        for name in names:
            config, var, which, mode, rows_fn, shots_fn = SETS[name]
            cfg = _dataset_cfg(root, config, var, which)
            rows = rows_fn(args.data)
            problems = []
            for i in range(args.samples):
                sample = plan.get((name, i))
                if sample is None:
                    problems.append(f'sample {i}: not planned by proctor')
                    continue
                entry = rows[i]
                shots = shots_fn(args.data, sample, rows) if shots_fn else []
                if mode == 'gen':
                    ours = proctor_texts(sample, 0)
                    theirs = opencompass_render.render_gen(cfg, entry, shots)
                    if ours != theirs:
                        problems.append(f'sample {i}:\n' + _diff(ours, theirs, 'prompt'))
                    continue
                if entry.get('choices', 4) != 4 and name.startswith('arc'):
                    problems.append(f'sample {i}: {entry["choices"]} options; OpenCompass '
                                    'drops it (documented deviation)')
                    continue
                labelled = opencompass_render.render_ppl(cfg, entry, shots)
                theirs = sorted(labelled.values())
                ours_list = proctor_texts(sample, len(labelled))
                ours = sorted(ours_list)
                if ours != theirs:
                    for a, b in zip(ours, theirs):
                        if a != b:
                            problems.append(f'sample {i}:\n' + _diff(a, b, 'option text'))
                            break
                    else:
                        problems.append(f'sample {i}: {len(ours)} options vs {len(theirs)}')
                    continue
                out_col = cfg['reader_cfg']['output_column']
                gold_theirs = labelled[entry[out_col]]
                gold_ours = ours_list[sample['gold']] if 0 <= sample['gold'] < len(ours_list) \
                    else None
                if gold_ours != gold_theirs:
                    problems.append(f'sample {i}: gold option differs:\n'
                                    f'  proctor     {gold_ours!r}\n  opencompass {gold_theirs!r}')
            documented = all('documented deviation' in p for p in problems)
            status = 'ok' if not problems else 'deviation' if documented else 'DIFFERS'
            print(f'{name:26s} {status:9s} {config}')
            for p in problems:
                print('    ' + p.replace('\n', '\n    '))
            failures += bool(problems) and not documented
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--opencompass', required=True,
                    help='the opencompass/ package folder of an unpacked sdist')
    ap.add_argument('--proctor', required=True, help='the proctor binary')
    ap.add_argument('--data', required=True, help='dataset root (shared/data/datasets)')
    ap.add_argument('--samples', type=int, default=3)
    ap.add_argument('--sets', default='', help='comma-separated subset of the checked sets')
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.opencompass, 'configs', 'datasets')):
        print(f'--opencompass {args.opencompass}: no configs/datasets/ inside', file=sys.stderr)
        return 2
    try:
        return check(args)
    except (RuntimeError, ValueError, KeyError, OSError) as e:
        print(f'check-templates: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
