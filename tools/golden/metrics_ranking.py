"""Goldens for src/metrics-roc.ts and src/metrics-calibration.ts: ROC-AUC, TPR at a fixed FPR,
the oracle (best-threshold) accuracy, the ROC and precision-recall curves, and the expected
calibration error.

Run: /usr/bin/python3 tools/golden/metrics_ranking.py   (Debian's python3-sklearn 1.2)
Each case stores `<case>.labels` (0 real, 1 generated) and `<case>.scores` (float32 probabilities)
and, in the metadata `<case>`, a JSON object computed in float64 on those float32 values:
  auc          = roc_auc_score(y, s)                                    (null unless both labels)
  tpr_at_fpr   = {target: max(tpr[fpr <= target])} over roc_curve(y, s, drop_intermediate=False)
                 for targets 0.01 and 0.05: the best TPR of any threshold whose FPR is at most the
                 target, no interpolation                                (null unless both labels)
  best_acc     = max over t in roc_curve's thresholds of accuracy_score(y, s >= t): every cut of
                 the sorted scores, 'all real' included (sklearn's first threshold is above every
                 score); plain accuracy, as UniversalFakeDetect's find_best_threshold searches it
                 (null unless both labels)
  best_threshold = for the first (highest) t reaching best_acc: the highest score below t, so that
                 `s > best_threshold` is the same cut; null when that cut calls every image generated
  ufd_best_acc = for the record: UniversalFakeDetect's validate.py procedure (search with s >= t over
                 the scores, then report accuracy_score(y, s > t*); the 'separable' shortcut when the
                 first half's maximum is at most the second half's minimum), on the arrays as stored
  ece          = expected calibration error (Guo et al. 2017), 10 equal-width bins: confidence is
                 the probability of the predicted class, max(s, 1 - s) (predicted generated when
                 s > 0.5), bin m holds confidences in ((m-1)/10, m/10], ECE = sum over bins of
                 |B|/n * |accuracy(B) - mean confidence(B)|; numpy, independent of the TS code
                 (sklearn has no ECE)                                    (null without images)
  roc          = roc_curve(y, s, drop_intermediate=False): fpr, tpr, thresholds (the first, sklearn's
                 max + 1, as null)                                      (two-label cases only)
  pr           = precision_recall_curve(y, s): precision, recall, thresholds  (two-label cases only)
"""
import json
import warnings

import numpy as np
import torch
from sklearn.metrics import accuracy_score, precision_recall_curve, roc_auc_score, roc_curve

from fixture import save

rng = np.random.default_rng(1)
tensors = {}
meta = {}
TARGETS = (0.01, 0.05)


def ece_guo(y, s, bins=10):
    pred = (s > 0.5).astype(np.int64)
    conf = np.where(pred == 1, s, 1 - s)
    edges = np.arange(bins + 1) / bins
    total = 0.0
    for m in range(bins):
        inside = (conf > edges[m]) & (conf <= edges[m + 1])
        if inside.any():
            total += inside.mean() * abs((pred[inside] == y[inside]).mean() - conf[inside].mean())
    return float(total)


def ufd_best_acc(y, s):
    n = len(y)
    if s[: n // 2].max() <= s[n // 2:].min():
        t = (s[: n // 2].max() + s[n // 2:].min()) / 2
    else:
        best, t = 0, 0
        for cand in s:
            a = ((s >= cand).astype(np.int64) == y).sum() / n
            if a >= best:
                best, t = a, cand
    return float(accuracy_score(y, s > t))


def case(name, labels, scores, curves=True):
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float32).astype(np.float64)
    both = 0 < y.sum() < len(y)
    out = {'ece': ece_guo(y, s) if len(y) else None}
    if both:
        fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
        accs = [accuracy_score(y, s >= t) for t in thr]
        k = int(np.argmax(accs))
        below = s[s < thr[k]]
        out.update({
            'auc': float(roc_auc_score(y, s)),
            'tpr_at_fpr': {str(t): float(tpr[fpr <= t].max()) for t in TARGETS},
            'best_acc': float(accs[k]),
            'best_threshold': float(below.max()) if below.size else None,
            'ufd_best_acc': ufd_best_acc(y, s),
        })
        if curves:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                p, r, pt = precision_recall_curve(y, s)
            out['roc'] = {'fpr': fpr.tolist(), 'tpr': tpr.tolist(), 'thresholds': [None] + thr[1:].tolist()}
            out['pr'] = {'precision': p.tolist(), 'recall': r.tolist(), 'thresholds': pt.tolist()}
    else:
        out.update({'auc': None, 'tpr_at_fpr': {str(t): None for t in TARGETS}, 'best_acc': None, 'best_threshold': None})
    meta[name] = json.dumps(out)
    tensors[name + '.labels'] = torch.tensor(y, dtype=torch.float32)
    tensors[name + '.scores'] = torch.tensor(s, dtype=torch.float32)


# Distinct scores, labels correlated with them.
y = rng.integers(0, 2, 61)
case('distinct', y, np.clip(0.3 * y + 0.7 * rng.random(61), 0, 1))
# Heavy ties: five score levels, 0.5 among them (predicted real, confidence 0.5: ECE bin (0.4, 0.5]).
y = rng.integers(0, 2, 40)
case('ties', y, rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], 40))
# Saturated probabilities: ties at exactly 0 and 1 among other values, both labels at each.
case('saturated', [1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0], [1, 1, 1, 0.9, 0.9, 0.2, 0, 0, 1, 0.5, 0, 1e-8])
# All scores equal: one ROC point besides the origin, AUC 1/2.
case('one_score', [0, 1, 1, 0, 1], [0.3] * 5)
# Separable, and inverted (every image on the wrong side): AUC 1 and 0.
case('separable', [0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.35, 0.9])
case('inverted', [1, 1, 0, 0, 0], [0.1, 0.2, 0.3, 0.35, 0.9])
# 200 real and 150 generated on a 0.01 grid: FPR exactly 1% (2 real) and 5% (10 real) are
# reachable, and ties straddle them.
y = np.r_[np.zeros(200, np.int64), np.ones(150, np.int64)]
case('fpr_grid', y, np.round(np.clip(rng.normal(0.35 + 0.3 * y, 0.15), 0, 1), 2), curves=False)
# Imbalanced: 3 real among 50 generated (an FPR step is 1/3: only FPR 0 is at most 5%).
y = np.r_[np.zeros(3, np.int64), np.ones(50, np.int64)]
case('imbalanced', y, np.clip(rng.normal(0.4 + 0.3 * y, 0.2), 0, 1))
# Many distinct scores: 2000 images.
y = rng.integers(0, 2, 2000)
case('large', y, 1 / (1 + np.exp(-rng.normal(1.5 * (2 * y - 1), 2.0))), curves=False)
# One label missing: ranking metrics undefined; ECE still defined.
case('only_real', [0] * 7, rng.random(7))
case('only_fake', [1] * 6, rng.random(6))
case('single', [1], [0.7])

save('metrics_ranking', tensors, meta)
