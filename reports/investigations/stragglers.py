"""The straggler neurons of MNIST (3,5) and (4,9) at the config's setting (init 1e-3, lr 0.01, alpha 0.1), 300 epochs.

    python reports/investigations/stragglers.py [DATA_DIR]

One JSON line per (pair, seed, group): the neurons farther than 0.1 x ||w_bar - u_bar|| from their group mean, with
their distance, norm and cosine relative to the group mean, initial norm, and the share of +1 and -1 training points
they are active on (and their group's typical shares).
"""
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from linear_region_scan import data  # noqa: E402  (the same training sets as the scan)

from lt_teacher.engines.fused import fused_sgd_steps  # noqa: E402
from lt_teacher.engines.permutations import EpochOrder  # noqa: E402

torch.set_num_threads(1)

def describe(pair, epochs=300, lr=0.01, alpha=0.1, init=1e-3, seeds=5, k=50, normalize="unit_norm"):
    x, y = data(pair, normalize)
    n, d = x.shape
    g = torch.Generator().manual_seed(0)
    W = (torch.randn(seeds, 2 * k, d, generator=g, dtype=torch.float64) * init).contiguous()
    W0 = W.clone()
    order = EpochOrder(seeds, n, seed=0)
    for _ in range(epochs):
        fused_sgd_steps(W, x, y, order.next_epoch(), lr, alpha, 1.0, k)
    for s in range(seeds):
        w, u = W[s, :k], W[s, k:]
        gap = (w.mean(0) - u.mean(0)).norm()
        for name, grp, sign in (("w", w, 1.0), ("u", u, -1.0)):
            mean = grp.mean(0)
            dist = (grp - mean).norm(dim=1) / gap
            far = (dist > 0.1).nonzero().flatten().tolist()
            h = x @ grp.T  # (n, k)
            active = (h > 0).double()
            # per-neuron: norm relative to mean norm, cosine with group mean, active on which labels
            info = []
            for i in far:
                cos = float(grp[i] @ mean / (grp[i].norm() * mean.norm()))
                init_norm = float(W0[s, i if name == "w" else k + i].norm())
                info.append(dict(i=i, dist=round(float(dist[i]), 3), norm_ratio=round(float(grp[i].norm() / mean.norm()), 3),
                                 cos_mean=round(cos, 3), init_norm=round(init_norm, 4),
                                 active_pos=round(float(active[y > 0, i].mean()), 3), active_neg=round(float(active[y < 0, i].mean()), 3),
                                 max_pre=round(float(h[:, i].max()), 5)))
            typical = dict(active_pos=round(float(active[y > 0].mean()), 3), active_neg=round(float(active[y < 0].mean()), 3))
            print(json.dumps(dict(pair=pair, seed=s, group=name, n_far=len(far), typical=typical, far=info[:6])), flush=True)

if __name__ == "__main__":
    describe((3, 5))
    describe((4, 9))
