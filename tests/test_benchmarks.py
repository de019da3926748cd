"""The benchmarks measure what the resolved configuration says: change the config and the
measured step changes with it (no sizes, rates or operators of their own)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import PAPER_CONFIG, HostSyncAudit, meta_problem, psnr_observed, resolved_config  # noqa: E402
from step_kinds import STEP_KINDS, size_note  # noqa: E402


def _centre(hidden: int, layers: int, res: int, batch: int, m: int):
    return resolved_config([PAPER_CONFIG], {
        "tasks": {"inpaint_center": {"resolution": res}},
        "experiment_defaults": {"siren": {"hidden": hidden, "layers": layers}, "outer": {"batch_size": batch}},
        "experiments": {"meta_center_m2": {"inner": {"steps": m}}},
    })


@pytest.mark.parametrize("hidden,layers,res,batch,m", [(128, 3, 9, 3, 2), (96, 4, 12, 1, 3)])
def test_the_timed_meta_step_is_the_configured_one(hidden, layers, res, batch, m):
    """FLOPs of the Table 1 step kind follow the config: one SIREN render is
    F = 2·P·(2H + (L − 2)H² + 3H), a second-order meta-step 3(3m + 1)·B·F."""
    from device_check import count_flops, gemm_shapes

    resolved = _centre(hidden, layers, res, batch, m)
    built = STEP_KINDS["table1_m2"].build(resolved, torch.device("meta"), torch.float32)
    with HostSyncAudit():
        flops, _ = count_flops(built.step)
    render = 2 * res * res * (2 * hidden + (layers - 2) * hidden * hidden + 3 * hidden)
    assert built.images == batch
    assert flops == pytest.approx(3 * (3 * m + 1) * batch * render, rel=0.02)
    assert size_note("table1_m2", resolved) == f"{res}², {layers}×{hidden}, m={m}, B={batch}"
    assert (batch, res * res, hidden, hidden) in gemm_shapes(resolved).values()


def test_meta_red_step_uses_the_configured_denoiser_blur_and_red_parameters():
    resolved = resolved_config([PAPER_CONFIG], {
        "denoiser": {"depth": 4, "features": 6, "resolution": 16, "patch_size": 8},
        "tasks": {"deblur": {"resolution": 16, "operator": {"kernel_size": 5, "kernel_std": 0.7}},
                  # HQS's tasks: the DnCNN's resolution
                  **{t: {"resolution": 16} for t in ("compressed_sensing", "super_resolution", "mri", "mri_8x")}},
        "experiments": {"red_12": {"classical": {"params": {"lam": 123.0, "sigma_f": 0.07}}},
                        "meta_red_ft_l2": {"outer": {"batch_size": 2}, "siren": {"hidden": 8, "layers": 3}}},
    })
    problem = meta_problem(resolved, "meta_red_ft_l2", torch.device("cpu"))
    assert problem.images == 2 and tuple(problem.op.kernel.shape) == (5, 5)
    assert problem.op.noise_std == resolved.all["meta_red_ft_l2"]["task"]["operator"]["noise_std"]
    assert problem.solver.params == {"lam": 123.0, "sigma_f": 0.07, "relax": 1.0}
    convs = [p for p in problem.groups[2]["params"] if p.dim() == 4]  # the fine-tuned DnCNN
    assert len(convs) == 4 and convs[0].shape[0] == 6
    assert problem.groups[2]["lr"] == resolved.all["meta_red_ft_l2"]["denoiser"]["lr"]
    assert math.isfinite(float(problem.loss().detach()))


@pytest.mark.parametrize("param", ["log", "linear"])
def test_inner_rates_are_parametrised_as_the_spec_says(param):
    """The workflow trains log-space rates (config.yaml ``inner.lr_param: log``); a benchmark
    must time the same parametrisation, not the module's linear default."""
    resolved = resolved_config([PAPER_CONFIG], {
        "tasks": {"inpaint_center": {"resolution": 8}},
        "experiment_defaults": {"siren": {"hidden": 8, "layers": 3}, "inner": {"lr_param": param}}})
    problem = meta_problem(resolved, "meta_center_m2", torch.device("cpu"))
    stored = problem.groups[1]["params"][0]
    init = resolved.all["meta_center_m2"]["inner"]["lr_init"]
    expected = math.log(init) if param == "log" else init
    assert torch.allclose(stored, torch.full_like(stored, expected))
    assert problem.groups[1]["lr"] == resolved.all["meta_center_m2"]["outer"]["inner_lr_lr"]


def test_psnr_on_observed_pixels_is_the_package_psnr_restricted_to_the_mask():
    from metainv.metrics import psnr_torch

    g = torch.Generator().manual_seed(0)
    x, t = torch.rand(3, 3, 8, 8, generator=g), torch.rand(3, 3, 8, 8, generator=g)
    mask = (torch.rand(3, 1, 8, 8, generator=g) < 0.3).float()
    keep = mask.expand_as(x).bool()
    for i in range(3):
        mse = (x[i][keep[i]] - t[i][keep[i]]).pow(2).mean()
        assert float(psnr_observed(x, t, mask)[i]) == pytest.approx(float(10 * torch.log10(1 / mse)), rel=1e-5)
    full = torch.ones_like(mask)
    assert torch.allclose(psnr_observed(x, t, full), psnr_torch(x, t), atol=1e-5)


SCRIPTS = sorted(p.stem for p in (REPO / "benchmarks").glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_benchmark_script_imports(name):
    """A script whose package imports went stale fails here, not when someone next runs it."""
    import importlib.util

    # by file: a script named like a test package (benchmarks/solvers.py, tests/solvers/) must
    # not resolve to the package another test imported first
    loader = importlib.util.spec_from_file_location(f"benchmark_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(loader)
    sys.modules[loader.name] = module  # dataclasses look their module up there
    loader.loader.exec_module(module)
    assert callable(getattr(module, "main", None)) or name == "step_kinds"


def test_preprocess_child_imports_resolve():
    """preprocess.py measures in a child process; its imports must exist in the package."""
    import preprocess

    lines = [line for line in preprocess.CHILD.splitlines() if line.startswith("from metainv")]
    assert lines
    exec("\n".join(lines), {})


def test_peers_compares_the_same_maths_and_prints_every_ratio(capsys):
    """benchmarks/peers.py at toy sizes: one HQS iteration is the same map as deepinv's
    (checked at σ_k = σ₀), the four meta-gradients (the package's step with the SIREN per task
    and by baddbmm, a per-task autograd loop, torch.func vmap-over-grad) agree, and every ratio line is printed. Timings
    are printed, never asserted."""
    import peers

    threads = torch.get_num_threads()
    try:
        results = peers.main(["--sizes", "tiny", "--repeats", "1", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    hqs = results["hqs"]
    assert hqs["max_abs"] > 0.1 and hqs["max_abs_diff"] < 1e-4
    assert len(results["meta"]) == 2
    for case in results["meta"]:
        assert set(case["gaps"]) == {"ours (baddbmm)", "loop", "torch.func"}
        assert case["max_abs_grad"] > 0
        assert all(gap <= 1e-4 * case["max_abs_grad"] for gap in case["gaps"].values()), case
        assert all(case[name] > 0 for name in ("ours", "ours (baddbmm)", "loop", "torch.func"))
    assert "ours/deepinv" in out and "same map at σ_k = σ₀" in out
    assert out.count("ours/fastest reference") == 2 and out.count("same meta-gradient") == 2
    assert "(a) meta_center_m5" in out and "(b) meta_center_m2" in out


def test_peers_references_see_a_different_meta_gradient():
    """The gradient check of peers.py can fail: a loop reference with one rate changed
    disagrees with the package's step."""
    import peers

    refs = peers.meta_case(peers.SIZES["tiny"]["configs"], "meta_center_m2", 8, 3, 16, 2, torch.device("cpu"))
    ours = refs.ours()
    refs.f_rate *= 0.5  # f's step size in the reference only
    assert peers.gradient_gap(ours, refs.loop()) > 1e-3 * max(float(g.abs().max()) for g in ours[:-1])
