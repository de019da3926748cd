"""benchmarks/device_check.py at tiny sizes (benchmarks/tiny.yaml) on the CPU, so the GPU
check cannot rot.

The script's sections, FLOP counts (meta device against real execution, and against the
analytic count of the SIREN meta-step at the paper config's sizes), the host-sync audit, the
precision check, the GPU-hours estimate and the plan of config/gpu-smoke.yaml are checked
here; timings are printed by the script, never asserted. That the benchmarks take their sizes
from the resolved config is tests/test_benchmarks.py."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from metainv.config import load_config, resolve

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(BENCH))

from _common import PAPER_CONFIG, TINY_CONFIG, HostSyncAudit, resolved_config  # noqa: E402
from step_kinds import STEP_KINDS  # noqa: E402


@pytest.fixture(scope="module")
def tiny_check(tmp_path_factory):
    """One run of the script in --tiny mode: (stdout, the JSON it wrote)."""
    out = tmp_path_factory.mktemp("device_check") / "check.json"
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, str(BENCH / "device_check.py"), "--tiny", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def test_every_section_is_printed_with_sane_numbers(tiny_check):
    stdout, r = tiny_check
    for section in ("machine", "roofline", "steps", "host syncs", "precision", "flops", "smoke"):
        assert f"== {section} ==" in stdout
    assert r["machine"]["torch"] == torch.__version__
    assert r["roofline"]["roofline_tflops"]["fp32"] > 0 and r["roofline"]["roofline_tflops"]["bf16"] > 0
    kinds = {row["kind"] for row in r["steps"]}
    assert kinds == set(STEP_KINDS)
    for row in r["steps"]:
        assert 0 < row["ms_per_step"] < 60_000 and row["flops_per_step"] > 0
        assert 0 < row["roofline_fraction"] < 10 and math.isfinite(row["achieved_tflops"])
        assert row["peak_mib"] >= 0


def test_no_host_sync_inside_any_meta_step(tiny_check):
    """Scalar reads or CPU→device copies inside a meta-step would stall the GPU every step."""
    _, r = tiny_check
    for kind, sites in r["host_syncs"].items():
        if STEP_KINDS[kind].meta_gradient:
            assert sites == {}, (kind, sites)


def test_float32_meta_gradient_agrees_with_float64(tiny_check):
    _, r = tiny_check
    assert set(r["precision"]) == {k for k, v in STEP_KINDS.items() if v.meta_gradient}
    for kind, rel in r["precision"].items():
        assert 0 < rel["fp32"] < 1e-4, (kind, rel)


def test_paper_flops_match_the_analytic_count_of_the_siren_meta_step(tiny_check):
    """One SIREN render costs F = 2·P·(2H + 3H² + 3H) at 5 × H; each inner step is a forward
    and a backward (3F), the second-order outer backward doubles the unrolled graph: a meta-step
    is 3(3m + 1)·B·F and inference (3m + 1)·F per image (up to the first layer's input
    gradient, which coordinates do not need)."""
    _, r = tiny_check
    flops = r["flops"]["step_flops"]
    p, h = 128 * 128, 256
    render = 2 * p * (2 * h + 3 * h * h + 3 * h)
    for m in (2, 3, 5, 7):
        f = flops[f"table1_m{m}"]
        assert f["flops_per_step"] == pytest.approx(3 * (3 * m + 1) * 5 * render, rel=0.01)
        assert f["infer_flops_per_image"] == pytest.approx((3 * m + 1) * render, rel=0.01)
    # DnCNN 17 × 64, one training step on 128 crops of 40²: forward + backward = 3 × forward
    conv = 3 * 64 * 9 + 15 * 64 * 64 * 9 + 64 * 3 * 9
    assert flops["dncnn_train"]["flops_per_step"] == pytest.approx(3 * 2 * 128 * 40 * 40 * conv, rel=0.01)


def test_gpu_hours_estimate_covers_every_trained_experiment(tiny_check):
    stdout, r = tiny_check
    trained = set(resolve(load_config(REPO / "config/config.yaml")).trained_ids("meta"))
    rows = r["flops"]["rows"]
    assert {row["experiment"] for row in rows} == trained | {"denoiser (DnCNN)"}
    for row in rows:
        assert row["hours_fp32"] > row["hours_tf32"] > 0
    assert 0 < r["flops"]["total_hours"]["tf32"] < r["flops"]["total_hours"]["fp32"] < 1000
    assert "ESTIMATED FROM FLOPs (not measured)" in stdout


def test_gpu_smoke_config_plans_the_paper_workflow(tiny_check):
    """`snakemake -n --configfile config/gpu-smoke.yaml` plans every stage, offline data."""
    _, r = tiny_check
    smoke = r["smoke"]
    assert smoke["mode"] == "plan" and smoke["returncode"] == 0, smoke.get("tail")
    for rule in ("prepare_sample", "train_denoiser", "meta_train", "reconstruct", "tune_classical",
                 "table", "figure"):
        assert smoke["jobs"].get(rule, 0) > 0, (rule, smoke["jobs"])
    assert "download_celeba" not in smoke["jobs"]


def test_gpu_smoke_keeps_the_paper_sizes():
    """gpu-smoke.yaml cuts steps and image counts only, never a size of the paper config."""
    smoke = yaml.safe_load((REPO / "config/gpu-smoke.yaml").read_text())
    assert smoke["data"]["source"] == "sample"
    assert "tasks" not in smoke and "siren" not in smoke.get("experiment_defaults", {})
    for key in ("depth", "features", "batch_size", "patch_size", "resolution", "noise_std"):
        assert key not in smoke["denoiser"]
    for spec in smoke["experiments"].values():
        assert set(spec) <= {"outer", "classical", "enabled"}
        assert set(spec.get("outer", {})) <= {"steps", "validate_every", "checkpoint_every", "tuning_images"}


@pytest.mark.parametrize("kind", list(STEP_KINDS))
def test_flops_counted_on_the_meta_device_equal_those_of_a_real_run(kind, monkeypatch):
    """Paper-size FLOPs are counted on the meta device (no arithmetic): it must count what a
    real run counts. Off the CPU the SIREN runs one baddbmm per layer, on the CPU one addmm
    per task: the same FLOPs in total, and op by op once the CPU run takes the batched path."""
    from device_check import count_flops

    from metainv.nets.siren import Siren

    counts = {}
    tiny = resolved_config([PAPER_CONFIG, TINY_CONFIG])
    for device, batched in (("cpu", None), ("cpu", True), ("meta", None)):
        monkeypatch.setattr(Siren, "batched_forward", batched)
        built = STEP_KINDS[kind].build(tiny, torch.device(device), torch.float32)
        with HostSyncAudit():
            counts[device, batched] = count_flops(built.step)
    assert counts["cpu", True] == counts["meta", None] and counts["meta", None][0] > 0
    assert counts["cpu", None][0] == counts["meta", None][0]


def test_host_sync_audit_sees_scalar_reads_and_copies_only_off_the_host():
    x = torch.ones(3, device="meta")
    with HostSyncAudit() as audit:
        float(torch.ones(2).sum())      # a host tensor: no sync
        value = float(x.sum())          # device → host
        torch.zeros(2).to("meta")       # host → device
    kinds = sorted(what for what, _ in audit.sites)
    assert kinds == ["copy cpu→meta", "scalar read (.item/float/bool)"] and value == 1.0
    assert all("test_device_check.py" in where for _, where in audit.sites)
