"""lt_teacher.metrics tested as torchmetrics tests its own: each metric against its functional function and a
slow, obviously correct reference, on one process and on two gloo processes, plus pickling, state_dict, reset."""

import math
import os
import pickle
import sys

import pytest
import torch

from _helpers import REPO_ROOT, run_in_own_session
from _metrics_cases import ALPHA, BATCH, BETA, V, all_metric_values, case, computed_values, make_metrics, num_batches, update_all
from lt_teacher.functional import (
    linear_region_fractions,
    margin_summary,
    margins,
    neural_agreement,
    par_fraction,
)
from lt_teacher.functional import evaluate_batch, radius
from lt_teacher.functional.evaluation import batch_statistics
from lt_teacher.metrics import AgreementStatistics, LinearRegionStatistics, MarginStatistics, PARStatistics, compute_statistics

# ----------------------------------------------------------------------------- slow references


def _leaky(z: float) -> float:
    return z if z > 0 else ALPHA * z


def _network(x: torch.Tensor, w: torch.Tensor, u: torch.Tensor) -> float:
    return V * (sum(_leaky(float(wi @ x)) for wi in w) - sum(_leaky(float(ui @ x)) for ui in u))


def _classifies(value: float) -> bool:
    return value >= BETA and value > 0


def reference_values() -> dict[str, float]:
    """Every quantity by loops over points and neurons (equal-size weighting rho_g = 2 k_g / (k_w + k_u))."""
    x, y, w, u = case()
    n, k_w, k_u = x.shape[0], w.shape[0], u.shape[0]
    rho_w, rho_u = 2 * k_w / (k_w + k_u), 2 * k_u / (k_w + k_u)
    w_bar, u_bar = w.mean(0), u.mean(0)
    r = max([rho_w * float((wi - w_bar).norm()) for wi in w] + [rho_u * float((ui - u_bar).norm()) for ui in u])
    direction = rho_w * w_bar - rho_u * u_bar
    outside = disagree = 0
    for xi in x:
        projection = float(direction @ xi)
        outside += abs(projection) < 2 * r * float(xi.norm())
        disagree += math.copysign(1, _network(xi, w, u)) != math.copysign(1, projection) or projection == 0
    values = {"linear_region/outside_fraction": outside / n, "linear_region/disagreement_fraction": disagree / n}

    def hat(neuron: torch.Tensor, xi: torch.Tensor) -> float:
        norm = float(neuron.norm())
        return float(neuron @ xi) / norm if norm > 0 else 0.0

    def group_agrees(group: torch.Tensor, xi: torch.Tensor) -> bool:
        return any(all(_classifies(c * hat(nrn, xi)) for nrn in group) for c in (1, -1))

    def max_diff(group: torch.Tensor) -> float:
        if group.shape[0] < 2:
            return 0.0
        return float(max(
            sum(not (float(a @ xi) * float(b @ xi) > 0) for xi in x)
            for i, a in enumerate(group) for j, b in enumerate(group) if i != j
        ))

    agree_w = [group_agrees(w, xi) for xi in x]
    agree_u = [group_agrees(u, xi) for xi in x]
    values.update({
        "agreement/max_disagreement_w": max_diff(w),
        "agreement/max_disagreement_u": max_diff(u),
        "agreement/agreement_fraction_w": sum(agree_w) / n,
        "agreement/agreement_fraction_u": sum(agree_u) / n,
        "agreement/agreement_fraction": sum(a and b for a, b in zip(agree_w, agree_u)) / n,
        "agreement/in_nar": float(all(a and b for a, b in zip(agree_w, agree_u))),
        "par/fraction_w": sum(all(_classifies(float(yi) * hat(nrn, xi)) for xi, yi in zip(x, y)) for nrn in w) / k_w,
        "par/fraction_u": sum(all(_classifies(-float(yi) * hat(nrn, xi)) for xi, yi in zip(x, y)) for nrn in u) / k_u,
    })
    q = [float(yi) * _network(xi, w, u) for xi, yi in zip(x, y)]
    values.update({
        "margin/log_n_loss": math.log(sum(math.log1p(math.exp(-qi)) for qi in q)),
        "margin/min_margin": min(q),
        "margin/count": float(n),
        "margin/n_correct": float(sum(qi > 0 for qi in q)),
        "margin/max_input_norm": max(float(xi.norm()) for xi in x),
    })
    return values


# ----------------------------------------------------------------------------- one process


def test_every_metric_over_batches_equals_the_slow_reference():
    got = all_metric_values()
    expected = reference_values()
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_every_metric_over_batches_equals_its_functional_function():
    x, y, w, u = case()
    got = all_metric_values()
    region = linear_region_fractions(x, w, u, ALPHA)
    assert got["linear_region/outside_fraction"] == float(region.outside_fraction)
    assert got["linear_region/disagreement_fraction"] == float(region.disagreement_fraction)
    for name, value in neural_agreement(x, w, u, BETA)._asdict().items():
        assert got[f"agreement/{name}"] == float(value), name
    for name, value in par_fraction(x, y, w, u, BETA)._asdict().items():
        assert got[f"par/{name}"] == float(value), name
    metrics = make_metrics()
    update_all(metrics, list(range(num_batches())))
    summary = metrics["margin"].summary(param_norm=2.5, degree=1, k=4, alpha=ALPHA, v=V)
    expected = margin_summary(margins(x, y, w, u, ALPHA, V), x.norm(dim=1), 2.5, k=4, alpha=ALPHA, v=V)
    for name, value in expected._asdict().items():
        assert getattr(summary, name) == pytest.approx(value, rel=1e-12), name


@pytest.mark.parametrize("make", [LinearRegionStatistics, MarginStatistics, lambda: AgreementStatistics(3, 4, BETA),
                                  lambda: PARStatistics(3, 4, BETA)], ids=["region", "margin", "agreement", "par"])
@pytest.mark.filterwarnings("ignore:The ``compute`` method of metric")
def test_pickle_state_dict_and_reset(make):
    metrics = {"m": make()}
    name = {LinearRegionStatistics: "linear_region", MarginStatistics: "margin"}.get(type(metrics["m"]))
    name = name or ("agreement" if isinstance(metrics["m"], AgreementStatistics) else "par")
    full = make_metrics()
    full[name] = metrics["m"]
    update_all(full, [0, 1, 2])
    before = computed_values({name: metrics["m"]})
    clone = pickle.loads(pickle.dumps(metrics["m"]))
    assert computed_values({name: clone}) == before
    metrics["m"].persistent(True)
    state = metrics["m"].state_dict()
    assert set(state) == set(metrics["m"]._defaults)
    restored = make()
    restored.persistent(True)
    restored.load_state_dict(state)
    assert computed_values({name: restored}) == before
    metrics["m"].reset()
    fresh = make()
    for key in fresh._defaults:
        assert torch.equal(getattr(metrics["m"], key), getattr(fresh, key)), key


def test_margin_statistics_skip_an_empty_batch():
    from lt_teacher.functional import evaluate_batch

    x, y, w, u = case()
    metric = MarginStatistics()
    metric.update(evaluate_batch(x[:0], y[:0], w, u, ALPHA, V))
    assert float(metric.compute().count) == 0.0 and float(metric.compute().log_n_loss) == -math.inf


# ----------------------------------------------------------------------------- two processes


@pytest.mark.ddp
@pytest.mark.timeout(300)
def test_two_gloo_processes_taking_every_other_batch_equal_one_process(tmp_path):
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(REPO_ROOT / "tests" / "_metrics_ddp_run.py"), "--out", str(out),
               "--store", str(tmp_path / "rendezvous")]
    result = run_in_own_session(command, timeout=240, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    two = torch.load(out)
    one = all_metric_values()
    assert two.keys() == one.keys()
    for key, value in one.items():  # counts, minima and maxima exactly; log(n L) up to logsumexp rounding
        assert two[key] == pytest.approx(value, rel=1e-14, abs=0.0), key


def test_the_docstring_examples_run():
    import doctest

    import lt_teacher.metrics

    assert doctest.testmod(lt_teacher.metrics).failed == 0


def test_the_former_name_of_the_margin_statistics_still_works_with_a_warning():
    import lt_teacher.metrics as metrics

    with pytest.warns(DeprecationWarning, match="use `MarginStatisticsState`"):
        assert metrics.MarginSufficientStatistics is metrics.MarginStatisticsState


def test_metrics_take_a_batch_or_its_statistics_alike():
    """update(batch_statistics(batch).<part>) adds what update(batch, ...) adds; compute_statistics of one batch is compute()."""
    x, y, w, u = case()
    r = radius(w, u)
    by_batch, by_statistics = make_metrics(), make_metrics()
    for b in range(num_batches()):
        sl = slice(b * BATCH, (b + 1) * BATCH)
        batch = evaluate_batch(x[sl], y[sl], w, u, ALPHA, V)
        statistics = batch_statistics(batch, w.norm(dim=1), u.norm(dim=1), radius=r, beta=BETA)
        for name, metric in by_statistics.items():
            metric.update(getattr(statistics, name))  # type: ignore[attr-defined]
    update_all(by_batch, list(range(num_batches())))
    assert computed_values(by_batch) == computed_values(by_statistics)
    whole = batch_statistics(evaluate_batch(x, y, w, u, ALPHA, V), w.norm(dim=1), u.norm(dim=1), radius=r, beta=BETA)
    single = make_metrics()
    for name, metric in single.items():
        metric.update(getattr(whole, name))  # type: ignore[attr-defined]
    direct = compute_statistics(whole, BETA)
    for name, metric in single.items():
        for expected, got in zip(metric.compute(), direct[name]):  # type: ignore[attr-defined]
            assert torch.equal(expected, got), name


def test_statistics_of_other_group_sizes_are_refused():
    x, y, w, u = case()
    statistics = batch_statistics(evaluate_batch(x, y, w, u, ALPHA, V), w.norm(dim=1), u.norm(dim=1))
    with pytest.raises(ValueError, match=r"statistics of groups \(3, 3\), \(4, 4\); this metric counts k_w=4, k_u=3"):
        AgreementStatistics(4, 3).update(statistics.agreement)
    with pytest.raises(TypeError, match=r"`radius` \(the cluster radius r\) is required"):
        LinearRegionStatistics().update(evaluate_batch(x, y, w, u, ALPHA, V))


def test_par_minima_of_other_group_sizes_are_refused():
    x, y, w, u = case()
    statistics = batch_statistics(evaluate_batch(x, y, w, u, ALPHA, V), w.norm(dim=1), u.norm(dim=1))
    with pytest.raises(ValueError, match=r"PARStatistics.update: minima of groups \(3,\), \(4,\); this metric counts k_w=4, k_u=3"):
        PARStatistics(4, 3).update(statistics.par)


@pytest.mark.parametrize(
    "convert, dtype",
    [("to", torch.float16), ("to", torch.bfloat16), ("to", torch.float32), ("lightning", torch.float16), ("lightning", torch.bfloat16)],
)
def test_states_stay_float64_when_the_holding_module_changes_dtype(convert, dtype):
    """``module.to(dtype)`` (Lightning's "16-true"/"bf16-true" on a LightningModule holding the metrics) used to
    turn the counts into float16/bfloat16: with 3000 points bfloat16 counted 2928 and every fraction moved."""
    from lightning.pytorch import LightningModule

    class Holder(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.metrics = torch.nn.ModuleDict(make_metrics())  # type: ignore[arg-type]

    holder = Holder()
    if convert == "to":
        holder = holder.to(dtype)
    else:
        from lightning.pytorch.plugins.precision import HalfPrecision

        holder = HalfPrecision("bf16-true" if dtype == torch.bfloat16 else "16-true").convert_module(holder)
    converted = dict(holder.metrics.items())
    for metric in converted.values():
        assert all(getattr(metric, name).dtype == torch.float64 for name in metric._defaults)
    reference = make_metrics()
    batches = list(range(num_batches())) * 60  # 60 x 37 points: counts past float16's (2048) and bfloat16's (256) exact integers
    update_all(converted, batches)
    update_all(reference, batches)
    assert computed_values(converted) == computed_values(reference)


def test_metric_arguments_at_the_edges():
    x, y, w, u = case()
    batch = evaluate_batch(x, y, w, u, ALPHA, V)
    r = radius(w, u)
    by_tensor, by_number = LinearRegionStatistics(), LinearRegionStatistics()
    by_tensor.update(batch, r, ALPHA)
    by_number.update(batch, float(r))  # the radius as a Python number
    assert by_tensor.compute() == by_number.compute()
    with pytest.raises(ValueError, match="`radius`"):
        LinearRegionStatistics().update(batch, -1.0)
    with pytest.raises(TypeError, match="`radius`"):
        LinearRegionStatistics().update(batch, "0.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        LinearRegionStatistics().update(batch, r, 1.5)
    with pytest.raises(ValueError, match="no point has been added"):
        MarginStatistics().summary(param_norm=1.0, degree=1, k=2, alpha=ALPHA, v=V)


def test_set_dtype_is_still_the_users_explicit_choice():
    """torchmetrics' ``set_dtype`` converts the states (e.g. float32 on a device without float64); ``.half()`` does not."""
    metric = MarginStatistics()
    metric.half()
    assert metric.count.dtype == torch.float64
    metric.set_dtype(torch.float32)
    assert metric.count.dtype == torch.float32 and metric.log_n_loss.dtype == torch.float32


def test_metrics_take_torchmetrics_arguments():
    """Review: no constructor took torchmetrics' own keyword arguments (compute_on_cpu, sync_on_compute, ...)."""
    metrics = {
        "linear_region": LinearRegionStatistics(compute_on_cpu=True, sync_on_compute=False),
        "agreement": AgreementStatistics(3, 4, BETA, dist_sync_on_step=False),
        "par": PARStatistics(3, 4, BETA, compute_with_cache=False),
        "margin": MarginStatistics(compute_on_cpu=True),
    }
    update_all(metrics, list(range(num_batches())))
    assert computed_values(metrics) == all_metric_values()
    assert metrics["linear_region"].compute_on_cpu and not metrics["par"].compute_with_cache


def test_agreements_of_different_beta_in_one_collection_keep_their_own_values():
    """Review: a MetricCollection's compute groups share the states of metrics equal after the first update; two
    AgreementStatistics of different beta equal on a first batch were merged (0.35 for 0.183 afterwards)."""
    from torchmetrics import MetricCollection

    g = torch.Generator().manual_seed(4)
    x = torch.randn(60, 3, generator=g, dtype=torch.float64)
    y = torch.where(x[:, 0] > 0, 1.0, -1.0).to(torch.float64)
    teacher = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    w = teacher + 0.1 * torch.randn(3, 3, generator=g, dtype=torch.float64)  # near the teacher: beta decides
    u = -teacher + 0.1 * torch.randn(4, 3, generator=g, dtype=torch.float64)
    far = (x[:, 0].abs() > 1.0).nonzero()
    first = int(far[0])  # every neuron sees this point beyond 0.3: both betas classify it alike
    order = [first] + [i for i in range(x.shape[0]) if i != first]
    x, y = x[order], y[order]
    collection = MetricCollection({"b0": AgreementStatistics(3, 4, 0.0), "b1": AgreementStatistics(3, 4, 0.3)})
    for part in (slice(0, 1), slice(1, None)):
        collection.update(evaluate_batch(x[part], y[part], w, u, ALPHA, V), w.norm(dim=1), u.norm(dim=1))
    values = collection.compute()
    for name, beta in (("b0", 0.0), ("b1", 0.3)):
        expected = neural_agreement(x, w, u, beta)
        assert float(values[name].agreement_fraction) == float(expected.agreement_fraction), name
    assert float(neural_agreement(x, w, u, 0.0).agreement_fraction) != float(neural_agreement(x, w, u, 0.3).agreement_fraction)


def test_updates_replace_the_states_instead_of_writing_into_them():
    """Review: under Lightning's ddp_spawn a module's metric states sit in shared memory, and in-place `+=` on both
    ranks added into one tensor (41 points counted as 82). Every update makes new state tensors."""
    metrics = make_metrics()
    update_all(metrics, [0])
    before = {name: {s: getattr(m, s) for s in m._defaults} for name, m in metrics.items()}  # type: ignore[attr-defined]
    kept = {name: {s: t.clone() for s, t in states.items()} for name, states in before.items()}
    update_all(metrics, [1])
    for name, states in before.items():
        for state, tensor in states.items():
            assert torch.equal(tensor, kept[name][state]), f"{name}.{state} was written in place"


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"param_norm": -1.0}, ValueError, r"`param_norm` must be .*>= 0"),
    ({"param_norm": math.nan}, ValueError, r"`param_norm`"),
    ({"degree": 1.5}, TypeError, r"`degree`"),
    ({"degree": 0}, ValueError, r"`degree`"),
    ({"alpha": 1.5}, ValueError, r"`alpha`"),
])
def test_the_margin_summary_checks_its_arguments_as_margin_summary_does(kwargs, error, match):
    metrics = make_metrics()
    update_all(metrics, [0])
    arguments = {"param_norm": 2.0, "degree": 1, "k": 4, "alpha": ALPHA, "v": V, **kwargs}
    with pytest.raises(error, match=match):
        metrics["margin"].summary(**arguments)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("norms", "error", "match"), [
    (torch.tensor([1.0, -1.0, 2.0]), ValueError, r"`w_norms` must hold norms >= 0"),
    (torch.tensor([1.0, math.nan, 2.0]), ValueError, r"`w_norms` contains NaN or Inf"),
    (torch.tensor([1, 1, 2]), TypeError, r"floating tensor"),
    ([1.0, 1.0, 2.0], TypeError, r"`w_norms` must be a torch.Tensor .* got list"),
])
def test_neuron_norms_are_checked(norms, error, match):
    """Review: negative norms flipped the agreement and PAR results; NaN norms read as zero-norm neurons."""
    x, y, w, u = case()
    batch = evaluate_batch(x, y, w, u, ALPHA, V)
    for metric in (AgreementStatistics(3, 4, BETA), PARStatistics(3, 4, BETA)):
        with pytest.raises(error, match=match):
            metric.update(batch, norms, u.norm(dim=1))
