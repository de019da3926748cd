"""Claims with statistics: the paired bootstrap (metainv.stats), the claims stage (claims.csv /
claims.md) and the claims' configuration (metainv.config.claims)."""

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from metainv.config import claim_experiments, claims, lpips_nets, resolve
from metainv.errors import ConfigError
from metainv.stages.claims import claims as write_claims
from metainv.stats import paired_bootstrap, verdict

REPO = Path(__file__).resolve().parents[1]


def test_a_known_difference_is_recovered():
    rng = np.random.default_rng(0)
    b = 28 + rng.standard_normal(200)
    a = b + 0.4 + 0.3 * rng.standard_normal(200)  # true mean difference 0.4 dB
    c = paired_bootstrap(a, b, "greater", seed=1)
    assert c.n == 200 and c.mean_a == pytest.approx(a.mean()) and c.mean_b == pytest.approx(b.mean())
    assert c.mean_diff == pytest.approx((a - b).mean())
    assert c.ci_low < 0.4 < c.ci_high and c.ci_high - c.ci_low < 0.2
    assert c.verdict == "reproduced" and 0.8 < c.frac_a_wins < 1.0
    # the same comparison, claimed the other way round, is contradicted
    assert paired_bootstrap(a, b, "less", seed=1).verdict == "contradicted"
    assert paired_bootstrap(b, a, "less", seed=1).verdict == "reproduced"
    # seeded: the same inputs give the same interval
    assert paired_bootstrap(a, b, "greater", seed=1) == c


def test_a_zero_difference_is_inconclusive():
    rng = np.random.default_rng(1)
    noise = 0.5 * rng.standard_normal(50)
    b = 30 + rng.standard_normal(100)
    a = b + np.concatenate([noise, -noise])  # mean difference exactly 0
    for direction in ("greater", "less"):
        c = paired_bootstrap(a, b, direction, seed=0)
        assert c.ci_low < 0 < c.ci_high and c.verdict == "inconclusive"


def test_the_interval_covers_the_truth_about_95_percent_of_the_time():
    """Coverage of the percentile interval over many synthetic validation sets (n = 60)."""
    rng = np.random.default_rng(2)
    hits = []
    for trial in range(300):
        b = rng.standard_normal(60)
        a = b + 0.2 + rng.standard_normal(60)
        c = paired_bootstrap(a, b, n_resamples=1000, seed=trial)
        hits.append(c.ci_low < 0.2 < c.ci_high)
    assert 0.90 <= np.mean(hits) <= 0.98, np.mean(hits)


def test_verdict_rules():
    assert verdict(0.1, 0.5, "greater") == "reproduced"
    assert verdict(-0.5, -0.1, "greater") == "contradicted"
    assert verdict(-0.1, 0.5, "greater") == "inconclusive"
    assert verdict(-0.5, -0.1, "less") == "reproduced"
    assert verdict(0.1, 0.5, "less") == "contradicted"
    with pytest.raises(ValueError):
        verdict(0, 1, "bigger")


def _metrics(path, values, **extra):
    frame = pd.DataFrame({"index": np.arange(len(values)), "PSNR": values, **extra})
    frame.to_csv(path, index=False)
    return path


def test_claims_files_with_run_not_run_and_unavailable_comparisons(tmp_path):
    rng = np.random.default_rng(3)
    base = 25 + rng.standard_normal(40)
    files = {"m7": _metrics(tmp_path / "m7.csv", base + 0.5 + 0.2 * rng.standard_normal(40)),
             "m2": _metrics(tmp_path / "m2.csv", base)}
    comparisons = [
        {"id": "more_steps", "statement": "Meta-7 > Meta-2", "a": "m7", "b": "m2", "metric": "PSNR",
         "direction": "greater", "run": True},
        {"id": "unet", "statement": "UNet > Meta-5", "a": "unet_center", "b": "m2", "metric": "PSNR",
         "direction": "greater", "run": False},
        {"id": "lpips", "statement": "m7 has the better LPIPS", "a": "m7", "b": "m2", "metric": "LPIPS_vgg",
         "direction": "less", "run": True},
    ]
    df = write_claims(comparisons, files, tmp_path / "claims.csv", tmp_path / "claims.md", seed=0)
    assert df.verdict.tolist() == ["reproduced", "not run", "unavailable"]
    row = pd.read_csv(tmp_path / "claims.csv").iloc[0]
    assert row.n == 40 and row.ci_low < 0.5 < row.ci_high and row.mean_diff == pytest.approx(0.5, abs=0.1)
    md = (tmp_path / "claims.md").read_text()
    assert "| UNet > Meta-5 | unet_center > m2 | PSNR | – | – | – | – | – | **not run** |" in md
    assert "**reproduced**" in md and "**unavailable**" in md and "bootstrap" in md


def test_claims_pair_images_by_index(tmp_path):
    a = _metrics(tmp_path / "a.csv", [30.0, 20.0, 25.0])
    b = pd.DataFrame({"index": [2, 0, 1], "PSNR": [24.0, 29.0, 19.0]})  # same images, other order
    b.to_csv(tmp_path / "b.csv", index=False)
    c = {"id": "x", "statement": "A > B", "a": "a", "b": "b", "metric": "PSNR", "direction": "greater"}
    df = write_claims([c], {"a": a, "b": tmp_path / "b.csv"}, tmp_path / "c.csv", tmp_path / "c.md")
    assert df.mean_diff[0] == pytest.approx(1.0) and df.frac_a_wins[0] == 1.0
    assert df.ci_low[0] == pytest.approx(1.0) and df.verdict[0] == "reproduced"  # no spread at all
    pd.DataFrame({"index": [0, 1], "PSNR": [1.0, 2.0]}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValueError, match="different images"):
        write_claims([c], {"a": a, "b": tmp_path / "b.csv"}, tmp_path / "c.csv", tmp_path / "c.md")


def test_a_non_finite_score_drops_the_image_from_both_sides_and_says_so(tmp_path, caplog):
    """issue 18 item 7: pairing by image comes first, then an image with NaN/inf in A or B
    leaves both; claims.csv counts them (n_dropped), claims.md notes them, the log names them."""
    rng = np.random.default_rng(5)
    base = 25 + rng.standard_normal(20)
    a_values, b_values = base + 0.5 + 0.2 * rng.standard_normal(20), base
    a_bad, b_bad = a_values.copy(), b_values.copy()
    a_bad[4], b_bad[11] = np.nan, np.inf
    b_order = rng.permutation(20)  # B's rows in another order: pairing is by image index
    pd.DataFrame({"index": b_order, "PSNR": b_bad[b_order]}).to_csv(tmp_path / "b.csv", index=False)
    files = {"a": _metrics(tmp_path / "a.csv", a_bad), "b": tmp_path / "b.csv"}
    c = {"id": "x", "statement": "A > B", "a": "a", "b": "b", "metric": "PSNR", "direction": "greater"}
    with caplog.at_level("WARNING", logger="metainv.stages.claims"):
        df = write_claims([c], files, tmp_path / "c.csv", tmp_path / "c.md")
    keep = np.ones(20, bool)
    keep[[4, 11]] = False
    clean = paired_bootstrap(a_values[keep], b_values[keep], "greater")
    row = pd.read_csv(tmp_path / "c.csv").iloc[0]
    assert row.n == 18 and row.n_dropped == 2 and row.verdict == clean.verdict == "reproduced"
    for key in ("mean_a", "mean_b", "mean_diff", "ci_low", "ci_high", "frac_a_wins"):
        assert row[key] == pytest.approx(getattr(clean, key)), key
    assert df.n_dropped[0] == 2
    md = (tmp_path / "c.md").read_text()
    assert "| A > B | a > b | PSNR | 18 (2 dropped) |" in md
    assert "- A > B (a vs b, PSNR): 2 of 20 images dropped from both sides" in md
    assert "claim x: 2 of 20 images dropped" in caplog.text and "image index 4, 11" in caplog.text


def test_claims_with_no_or_one_usable_image_say_so(tmp_path):
    a = _metrics(tmp_path / "a.csv", [np.nan, 30.0, 31.0])
    b = _metrics(tmp_path / "b.csv", [20.0, np.nan, 29.0])
    none = _metrics(tmp_path / "none.csv", [np.nan, np.nan, np.nan])
    claims_ = [{"id": "one", "statement": "A > B", "a": "a", "b": "b", "metric": "PSNR", "direction": "greater"},
               {"id": "zero", "statement": "A > N", "a": "a", "b": "none", "metric": "PSNR", "direction": "greater"},
               {"id": "same", "statement": "A > A", "a": "a", "b": "a", "metric": "PSNR", "direction": "greater"}]
    df = write_claims(claims_, {"a": a, "b": b, "none": none}, tmp_path / "c.csv", tmp_path / "c.md")
    rows = pd.read_csv(tmp_path / "c.csv").set_index("id")
    assert rows.loc["one", ["n", "n_dropped", "verdict"]].tolist() == [1, 2, "inconclusive"]
    assert np.isnan(rows.loc["one", "ci_low"]) and rows.loc["one", "mean_diff"] == 2.0
    assert rows.loc["zero", ["n", "n_dropped", "verdict"]].tolist() == [0, 3, "unavailable"]
    assert rows.loc["same", ["n", "n_dropped", "mean_diff", "ci_low", "ci_high", "verdict"]].tolist() \
        == [2, 1, 0.0, 0.0, 0.0, "inconclusive"]
    assert df.verdict.tolist() == ["inconclusive", "unavailable", "inconclusive"]
    md = (tmp_path / "c.md").read_text()
    assert "| A > B | a > b | PSNR | 1 (2 dropped) | 31.00 | 29.00 | 2.00 [no interval: n = 1] | 100 % | " \
           "**inconclusive** |" in md
    assert "| A > N | a > none | PSNR | 0 (3 dropped) | – | – | – [no interval: n = 0] | – | **unavailable** |" in md


@pytest.fixture(scope="module")
def paper_raw():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_shipped_claims_resolve(paper_raw):
    resolved = resolve(copy.deepcopy(paper_raw))
    comps = claims(resolved)
    by = {(c["id"], c["b"]): c for c in comps}
    assert by[("more_inner_steps", "meta_center_m2")]["run"]
    # a list of B experiments is one comparison each
    assert sum(c["id"] == "hqs_convergence_best_psnr" for c in comps) == 6
    # the UNet claims run in the paper configuration (a claim on an absent or disabled
    # experiment reading "not run" is the next test)
    assert all(c["run"] for c in comps if c["a"].startswith("unet"))
    assert "unet_center" in claim_experiments(resolved)
    # an LPIPS claim makes evaluate compute that LPIPS for both of its experiments
    assert "vgg" in lpips_nets(resolved, "meta_red_ft_lpips")


def test_a_disabled_experiment_makes_its_claim_not_run(paper_raw):
    cfg = copy.deepcopy(paper_raw)
    cfg["experiments"]["meta_center_m7"]["enabled"] = False
    comp = next(c for c in claims(resolve(cfg)) if c["id"] == "more_inner_steps")
    assert not comp["run"]


@pytest.mark.parametrize("claim, named", [
    ({"id": "x", "statement": "s", "a": "meta_center_m7", "b": "red_12", "metric": "PSNR",
      "direction": "greater"}, "different images"),
    ({"id": "more_inner_steps", "statement": "s", "a": "meta_center_m7", "b": "meta_center_m3",
      "metric": "PSNR", "direction": "greater"}, "duplicate"),
    ({"id": "x", "statement": "s", "a": "meta_center_m7", "b": "meta_center_m2", "metric": "FID",
      "direction": "greater"}, "FID"),
    ({"id": "x", "statement": "s", "a": "meta_center_m7", "b": "meta_center_m2", "metric": "PSNR",
      "direction": "up"}, "up"),
])
def test_bad_claims_name_the_problem(paper_raw, claim, named):
    cfg = copy.deepcopy(paper_raw)
    cfg["claims"] = cfg["claims"] + [claim]
    with pytest.raises(ConfigError, match=named):
        resolve(cfg)
