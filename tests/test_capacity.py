"""The capacity study (issue 23, §5): adapted values per image from the spec, pairings against
the references, config checks, and the stage's files."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from metainv.config import ConfigError, capacity_ids, capacity_spec, load_config, lpips_nets, resolve
from metainv.meta.model import build_model, inner_loop_capacity
from metainv.stages.capacity import COLUMNS, better, capacity, study_rows

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick():
    return load_config(ROOT / "config/config.yaml", ROOT / "config/quick.yaml")


def _meta(eid, hidden=16, layers=3, adapt="all", modulation=None, last_layers=1, dc=False):
    siren = {"hidden": hidden, "layers": layers, "omega0": 30.0,
             "modulation": modulation or {"kind": "none", "latent_dim": 8}}
    return {"id": eid, "method": "meta", "siren": siren,
            "inner": {"steps": 2, "adapt": adapt, "last_layers": last_layers, "lr_scheme": "per_step"},
            "eval": {"data_consistency": dc}}


def test_adapted_values_are_every_weight_the_last_layer_or_the_latent():
    all_weights = _meta("a", hidden=16, layers=3)
    siren, _ = build_model(all_weights)
    # 2 → 16 → 16 → 3: every per-task weight and bias
    assert inner_loop_capacity(all_weights)[:2] == ((2 * 16 + 16) + (16 * 16 + 16) + (16 * 3 + 3), "all weights")
    assert inner_loop_capacity(_meta("l", adapt="last"))[:2] == (16 * 3 + 3, "last layers")
    film = _meta("f", adapt="latent", modulation={"kind": "shift", "latent_dim": 40})
    count, family, description = inner_loop_capacity(film)
    assert (count, family) == (40, "latent") and "latent 40" in description and "FiLM" in description
    # a FiLM SIREN adapting everything counts its shared weights, its map and z
    assert inner_loop_capacity(_meta("fa", modulation={"kind": "shift", "latent_dim": 40}))[0] > 40 + 2 * 16


def _frames(rng, n=40):
    truth = rng.normal(25.0, 2.0, n)
    return {
        "small": pd.DataFrame({"index": range(n), "PSNR": truth + 1.0 + rng.normal(0, 0.1, n),
                               "LPIPS_alex": np.full(n, 0.01)}),
        "film": pd.DataFrame({"index": range(n), "PSNR": truth - 1.0 + rng.normal(0, 0.1, n),
                              "LPIPS_alex": np.full(n, 0.03)}),
        "ref": pd.DataFrame({"index": range(n), "PSNR": truth, "LPIPS_alex": np.full(n, 0.02)}),
    }


def _study(metrics=("PSNR", "LPIPS_alex")):
    return {"title": "t", "metrics": list(metrics), "references": {"Ref": "ref"},
            "experiments": {"Small": _meta("small"), "FiLM": _meta("film", adapt="latent", dc=True,
                                                                   modulation={"kind": "shift", "latent_dim": 8})}}


def test_each_point_is_paired_against_each_reference_in_the_metric_s_better_direction():
    frame = study_rows(_study(), _frames(np.random.default_rng(0)))
    assert list(frame.columns) == list(COLUMNS)
    row = lambda label, metric: frame[(frame.label == label) & (frame.metric == metric)].iloc[0]  # noqa: E731
    assert row("Small", "PSNR").verdict == "reproduced" and 0.9 < row("Small", "PSNR").mean_diff < 1.1
    assert row("FiLM", "PSNR").verdict == "contradicted" and row("FiLM", "PSNR").ci_high < 0
    # LPIPS: lower is better, so 0.01 against 0.02 is better
    assert row("Small", "LPIPS_alex").verdict == "reproduced" and row("FiLM", "LPIPS_alex").verdict == "contradicted"
    assert row("FiLM", "PSNR").family == "latent + DC" and row("FiLM", "PSNR").adapted == 8
    refs = frame[frame.role == "reference"]
    assert set(refs.metric) == {"PSNR", "LPIPS_alex"} and refs.reference.isna().all()
    assert better("MSE") == "less" and better("SSIM") == "greater"
    # a point that is its own reference is not compared with itself
    spec = _study(metrics=("PSNR",))
    spec["experiments"]["Ref itself"] = _meta("ref")
    own = study_rows(spec, _frames(np.random.default_rng(0)))
    own = own[(own.label == "Ref itself") & (own.role == "point")].iloc[0]
    assert own.verdict == "is the reference" and np.isnan(own.mean_diff)


def test_points_scored_on_other_images_are_refused():
    frames = _frames(np.random.default_rng(1))
    frames["ref"] = frames["ref"].assign(index=frames["ref"]["index"] + 1)
    with pytest.raises(Exception, match="different images"):
        study_rows(_study(), frames)


def test_the_stage_writes_the_table_the_csv_and_the_figure(tmp_path):
    paths = {}
    for eid, frame in _frames(np.random.default_rng(2)).items():
        paths[eid] = tmp_path / f"{eid}.csv"
        frame.to_csv(paths[eid], index=False)
    out = capacity(_study(), paths, tmp_path / "c.csv", tmp_path / "c.md", tmp_path / "c.png")
    assert out.stat().st_size > 0
    md = (tmp_path / "c.md").read_text()
    assert "| Small |" in md and "(better)" in md and "(worse)" in md and "## LPIPS_alex" in md
    assert len(pd.read_csv(tmp_path / "c.csv")) == 2 * 2 + 2  # 2 points × 2 metrics × 1 reference + the reference
    with pytest.raises(Exception, match="no metrics.csv given for ref"):
        capacity(_study(), {k: v for k, v in paths.items() if k != "ref"}, tmp_path / "d.csv",
                 tmp_path / "d.md", tmp_path / "d.png")


@pytest.mark.parametrize("change, words", [
    ({"experiments": {"UNet": "unet_center"}}, "points of a capacity study are meta experiments"),
    ({"experiments": {"Meta": "meta_center_m3", "Meta-2D": "meta_random"}}, "one task on one measurement"),
    ({"references": {"UNet": "unet_random"}}, "one task on one measurement"),
    ({"experiments": {"Meta": "nope"}}, "unknown experiment"),
])
def test_a_bad_study_is_a_config_error(quick, change, words):
    config = copy.deepcopy(quick)
    config["capacity_studies"]["center"].update(change)
    with pytest.raises(ConfigError, match=r"config\.capacity_studies\.center") as e:
        resolve(config)
    assert words in str(e.value)


def test_the_job_reads_enabled_points_and_references_only(quick):
    resolved = resolve(copy.deepcopy(quick))
    assert capacity_ids(resolved, "center") == ["meta_center_m3", "meta_film_center", "unet_center"]
    assert capacity_ids(resolved, "random") == []  # disabled in the quick config
    spec = capacity_spec(resolved, "center")
    assert list(spec["experiments"]) == ["Meta-3 (SIREN)", "FiLM, z 256"]
    assert spec["references"] == {"Meta-3": "meta_center_m3", "UNet": "unet_center"}
    config = copy.deepcopy(quick)
    for eid in ("meta_center_m3", "meta_film_center"):
        config["experiments"][eid]["enabled"] = False
    config["claims"] = []
    config["step_curves"] = {}
    config["figures"] = {}
    assert capacity_ids(resolve(config), "center") == []  # no point left: no job


def test_a_point_only_in_a_study_is_scored_with_the_study_s_lpips(quick):
    """cap_center_w32 is in no table or claim: its evaluation still computes LPIPS-alex."""
    config = copy.deepcopy(quick)
    config["experiments"]["cap_center_w32"]["enabled"] = True
    resolved = resolve(config)
    assert lpips_nets(resolved, "cap_center_w32") == ["alex"]
    config["capacity_studies"]["center"]["metrics"] = ["PSNR"]
    assert lpips_nets(resolve(config), "cap_center_w32") == []
