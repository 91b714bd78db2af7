"""Goldens for src/metrics.ts: accuracy and average precision from scikit-learn.

Run: /usr/bin/python3 tools/golden/metrics.py   (Debian's python3-sklearn)
Each case stores `<case>.labels` (0 real, 1 generated) and `<case>.scores` (float32 probabilities:
the metrics see exactly the values the engine produces) and, in the metadata `<case>`, a JSON object
with sklearn's results in float64:
  acc      = accuracy_score(y, s > threshold)
  real_acc = accuracy_score(y[y == 0], s[y == 0] > threshold)   (null without real images)
  fake_acc = accuracy_score(y[y == 1], s[y == 1] > threshold)   (null without generated images)
  ap       = average_precision_score(y, s)                      (null unless both labels occur;
  sklearn_ap keeps what sklearn reports then, with its warning, for the record)
"""
import json
import warnings

import numpy as np
import torch
from sklearn.metrics import accuracy_score, average_precision_score

from fixture import save

rng = np.random.default_rng(0)
tensors = {}
meta = {}


def case(name, labels, scores, threshold=0.5):
    y = np.asarray(labels, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float32).astype(np.float64)  # float32 values, compared in float64
    pred = s > threshold

    def acc(mask):
        return float(accuracy_score(y[mask], pred[mask])) if mask.any() else None

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # sklearn warns when a label is missing
        sk_ap = float(average_precision_score(y, s))
    both = 0 < y.sum() < len(y)
    meta[name] = json.dumps({
        'threshold': threshold,
        'acc': acc(np.ones_like(y, dtype=bool)),
        'real_acc': acc(y == 0),
        'fake_acc': acc(y == 1),
        'ap': sk_ap if both else None,
        'sklearn_ap': sk_ap,
    })
    tensors[name + '.labels'] = torch.tensor(y, dtype=torch.float32)
    tensors[name + '.scores'] = torch.tensor(s, dtype=torch.float32)


# Distinct scores, labels correlated with them.
y = rng.integers(0, 2, 61)
case('distinct', y, np.clip(0.3 * y + 0.7 * rng.random(61), 0, 1))
# Heavy ties: five score levels, including exactly the threshold 0.5 (predicted real: 0.5 > 0.5 is false).
y = rng.integers(0, 2, 40)
case('ties', y, rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], 40))
# Saturated probabilities: ties at exactly 0 and 1 among other values, both labels at each.
case('saturated', [1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0], [1, 1, 1, 0.9, 0.9, 0.2, 0, 0, 1, 0.5, 0, 1e-8])
# All scores equal: one threshold, AP = the fraction of generated images.
case('one_score', [0, 1, 1, 0, 1], [0.3] * 5)
# Another threshold for the accuracies.
y = rng.integers(0, 2, 25)
case('threshold_0.3', y, rng.random(25), threshold=0.3)
# One label missing: AP undefined; accuracies of the missing label too.
case('only_real', [0] * 7, rng.random(7))
case('only_fake', [1] * 6, rng.random(6))
case('single', [1], [0.7])

save('metrics', tensors, meta)
