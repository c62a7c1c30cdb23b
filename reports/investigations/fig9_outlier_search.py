"""Figure 9: search the outlier's placement, the init scale and the learning rate for an NAR that is not a PAR.

    python reports/investigations/fig9_outlier_search.py

Two antipodal Gaussians N(+-2 e1, I) in the plane (y w*.x >= 0.1, w* = e1, 200 + 200 points) plus one positive
outlier at cos(angle to w*) in {0.03, 0.1, 0.3}, distance {0.5, 1, 3} x the data's max norm; init std {1e-4, 1e-2};
lr {0.01, 0.1}; alpha 0.1, k = 50, 5 seeds, 200 epochs of per-example SGD, NAR/PAR checked every 10 epochs. One
JSON line per setting: the first epoch each seed is in the NAR, the first (epoch, PAR fractions) where it is in an
NAR but not a PAR (null: never), and the share of w-neurons negative on the outlier at the end.
"""
import itertools
import json
import math
import time

import torch

torch.set_num_threads(1)
from lt_teacher.engines.fused import fused_sgd_steps
from lt_teacher.engines.permutations import EpochOrder
from lt_teacher import functional as F

def data(seed=0, n=400, margin=0.1, std=1.0, dist=4.0, cos_t=0.1, rho_factor=1.0, side=1.0):
    g = torch.Generator().manual_seed(seed)
    rows = []
    while len(rows) < n // 2:
        x = torch.randn(2, generator=g, dtype=torch.float64) * std + torch.tensor([dist / 2, 0.0], dtype=torch.float64)
        if x[0] >= margin:
            rows.append(x)
    pos = torch.stack(rows)
    x = torch.cat([pos, -pos]); y = torch.cat([torch.ones(n // 2), -torch.ones(n // 2)]).double()
    rho = rho_factor * float(x.norm(dim=1).max())
    o = rho * torch.tensor([cos_t, side * math.sqrt(1 - cos_t ** 2)], dtype=torch.float64)
    if o[0] < margin:
        o[0] = margin
    return torch.cat([x, o[None]]).contiguous(), torch.cat([y, torch.ones(1, dtype=torch.float64)]).contiguous()

def run(cos_t, rho_factor, side, init, lr, alpha=0.1, seeds=5, k=50, epochs=200, every=10):
    x, y = data(cos_t=cos_t, rho_factor=rho_factor, side=side)
    n = x.shape[0]
    g = torch.Generator().manual_seed(1)
    W = (torch.randn(seeds, 2 * k, 2, generator=g, dtype=torch.float64) * init).contiguous()
    order = EpochOrder(seeds, n, seed=0)
    found = [None] * seeds; nar_epochs = [None] * seeds; outlier_w_neg = [0.0] * seeds
    for e in range(1, epochs + 1):
        fused_sgd_steps(W, x, y, order.next_epoch(), lr, alpha, 1.0, k)
        if e % every == 0 or e == epochs:
            for s in range(seeds):
                w, u = W[s, :k], W[s, k:]
                na = F.neural_agreement(x, w, u)
                pf = F.par_fraction(x, y, w, u)
                in_nar = float(na.max_disagreement_w) == 0 and float(na.max_disagreement_u) == 0
                if in_nar and nar_epochs[s] is None:
                    nar_epochs[s] = e
                if in_nar and (float(pf.fraction_w) < 1 or float(pf.fraction_u) < 1) and found[s] is None:
                    found[s] = (e, float(pf.fraction_w), float(pf.fraction_u))
                outlier_w_neg[s] = float((x[-1] @ w.T < 0).double().mean())
    return dict(cos=cos_t, rho=rho_factor, side=side, init=init, lr=lr, alpha=alpha, nar_epoch=nar_epochs, nar_not_par=found,
                w_negative_on_outlier=outlier_w_neg)

if __name__ == "__main__":
    for cos_t, rho_factor, side, init, lr in itertools.product([0.03, 0.1, 0.3], [0.5, 1.0, 3.0], [1.0], [1e-4, 1e-2], [0.01, 0.1]):
        t = time.time()
        r = run(cos_t, rho_factor, side, init, lr)
        r["seconds"] = round(time.time() - t, 1)
        print(json.dumps(r), flush=True)
