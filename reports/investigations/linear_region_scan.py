"""Why MNIST (3,5) and (4,9) stay outside Theorem 5.1's region at small init: a scan over epochs, lr, alpha,
init scale and preprocessing, 5 seeds each, the paper's per-example SGD (fused engine) and the functional API.

    python reports/investigations/linear_region_scan.py base|lr|alpha|init|init6|pixels|alpha-init [DATA_DIR]

prints one JSON line per (pair, setting, epoch): per seed the training outside fraction, r/||w_bar-u_bar||,
accuracy, the true disagreement sign N(x) vs sign((w_bar-u_bar).x), the agreement-certified share, the three
largest and the median neuron distance / ||w_bar-u_bar||. MNIST: the official test split divided as
`lt-teacher reproduce fig2-mnist` divides it (test_fraction 0.2, seed 0).
"""
import json
import sys

import torch

from lt_teacher import functional as F
from lt_teacher.datamodules import MNISTPairsDataModule
from lt_teacher.engines.fused import fused_sgd_steps
from lt_teacher.engines.permutations import EpochOrder

torch.set_num_threads(1)
DATA_DIR = sys.argv[2] if len(sys.argv) > 2 else "../shared/data"

def data(pair, normalize="unit_norm"):
    dm = MNISTPairsDataModule(digits=pair, data_dir=DATA_DIR, split_source="test-split",
                              normalize=normalize, val_fraction=0.0, test_fraction=0.2, seed=0)
    dm.setup("fit")
    x, y = dm.train_tensors()
    return x.flatten(1).double().contiguous(), torch.where(y > 0, 1.0, -1.0).double()

def stats(W, x, y, alpha, k):
    w, u = W[:k], W[k:]
    cr = F.cluster_radius(w, u)
    inside = F.linear_region_mask(x, w, u)
    dis = F.linear_disagreement(x, w, u, alpha)
    agree = F.agreement_certificate_mask(x, w, u)
    N = F.network_output(x, w, u, alpha)
    d = torch.cat(F.neuron_distances(w, u)) / cr.mean_gap
    ds = d.sort(descending=True).values
    return dict(outside=float((~inside).double().mean()), ratio=float(cr.radius_ratio),
                acc=float((torch.sign(N) == y).double().mean()), disagree=float(dis.double().mean()),
                certified_agree=float(agree.double().mean()),
                top_dist=[round(float(v), 3) for v in ds[:3]], median_dist=round(float(ds.median()), 4))

def run(pair, epochs_list, lr=0.01, alpha=0.1, init=1e-3, normalize="unit_norm", seeds=5, k=50):
    x, y = data(pair, normalize)
    n, d = x.shape
    g = torch.Generator().manual_seed(0)
    W = (torch.randn(seeds, 2 * k, d, generator=g, dtype=torch.float64) * init).contiguous()
    order = EpochOrder(seeds, n, seed=0)
    done = 0; out = []
    for E in epochs_list:
        while done < E:
            fused_sgd_steps(W, x, y, order.next_epoch(), lr, alpha, 1.0, k)
            done += 1
        rows = [stats(W[s], x, y, alpha, k) for s in range(seeds)]
        print(json.dumps(dict(pair=pair, epochs=E, lr=lr, alpha=alpha, init=init, normalize=normalize,
              outside=[round(r["outside"], 3) for r in rows], ratio=[round(r["ratio"], 3) for r in rows],
              acc=[r["acc"] for r in rows], disagree=[r["disagree"] for r in rows],
              certified=[round(r["certified_agree"], 3) for r in rows],
              top_dist=[r["top_dist"] for r in rows], median_dist=[r["median_dist"] for r in rows])), flush=True)

SETTINGS = {
    "base": ({}, [100, 300, 1000]),
    "lr": ({"lr": 0.1}, [100, 300]),
    "lr-small": ({"lr": 0.001}, [100, 300]),
    "alpha": ({"alpha": 0.5}, [100, 300]),
    "init": ({"init": 1e-5}, [100, 300]),
    "init6": ({"init": 1e-6}, [100, 300]),
    "pixels": ({"normalize": "unit_interval"}, [100, 300]),
    "alpha-init": ({"alpha": 0.5, "init": 1e-5}, [100, 300]),
}

if __name__ == "__main__":
    kwargs, epochs = SETTINGS[sys.argv[1]]
    for pair in [(3, 5), (4, 9)]:
        run(pair, epochs, **kwargs)
