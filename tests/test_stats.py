"""metainv.stats at its edges (issue 18 item 7): non-finite scores dropped pairwise and
counted, n = 0, n = 1, identical methods and an interval with an end exactly at 0."""

import math

import numpy as np
import pytest

from metainv.stats import paired_bootstrap, verdict


def test_a_non_finite_score_drops_that_image_from_both_sides_and_is_counted():
    rng = np.random.default_rng(0)
    b = 25 + rng.standard_normal(30)
    a = b + 0.5 + 0.3 * rng.standard_normal(30)
    a_bad, b_bad = a.copy(), b.copy()
    a_bad[3], b_bad[17], b_bad[20] = np.nan, np.inf, -np.inf
    c = paired_bootstrap(a_bad, b_bad, seed=4)
    keep = np.ones(30, bool)
    keep[[3, 17, 20]] = False
    clean = paired_bootstrap(a[keep], b[keep], seed=4)
    assert c.n == 27 and c.n_dropped == 3 and clean.n_dropped == 0
    assert {k: v for k, v in c.as_dict().items() if k != "n_dropped"} == \
        {k: v for k, v in clean.as_dict().items() if k != "n_dropped"}
    assert c.mean_a == pytest.approx(a[keep].mean()) and c.mean_b == pytest.approx(b[keep].mean())


@pytest.mark.parametrize("a, b, dropped", [([], [], 0), ([np.nan, 1.0], [2.0, np.inf], 2)])
def test_no_finite_pair_is_no_data_not_a_verdict(a, b, dropped):
    for direction in ("greater", "less"):
        c = paired_bootstrap(a, b, direction)
        assert c.n == 0 and c.n_dropped == dropped and c.verdict == "unavailable"
        assert all(math.isnan(v) for v in (c.mean_a, c.mean_diff, c.ci_low, c.ci_high, c.frac_a_wins))


@pytest.mark.parametrize("a, b", [([30.0], [29.0]), ([30.0, np.nan], [29.0, 28.0])])
def test_one_image_has_no_interval_and_is_inconclusive(a, b):
    c = paired_bootstrap(a, b, "greater")
    assert c.n == 1 and c.n_dropped == len(a) - 1 and c.mean_diff == 1.0
    assert math.isnan(c.ci_low) and math.isnan(c.ci_high) and c.verdict == "inconclusive"


def test_identical_methods_are_inconclusive_either_way():
    a = 28 + np.random.default_rng(1).standard_normal(40)
    for direction in ("greater", "less"):
        c = paired_bootstrap(a, a.copy(), direction)
        assert c.n == 40 and c.mean_diff == 0 and c.ci_low == 0 and c.ci_high == 0
        assert c.frac_a_wins == 0 and c.verdict == "inconclusive"


def test_an_interval_with_an_end_exactly_at_zero_is_inconclusive():
    # one image of five differs: a third of the resamples miss it, so the 2.5 % quantile is 0 itself
    c = paired_bootstrap([1.0, 0, 0, 0, 0], [0.0] * 5, "greater")
    assert c.ci_low == 0.0 and c.ci_high > 0 and c.verdict == "inconclusive"
    c = paired_bootstrap([-1.0, 0, 0, 0, 0], [0.0] * 5, "less")
    assert c.ci_high == 0.0 and c.ci_low < 0 and c.verdict == "inconclusive"
    # the same spread off 0 resolves the sign
    assert paired_bootstrap([2.0, 1, 1, 1, 1], [0.0] * 5, "greater").verdict == "reproduced"
    for low, high in [(0.0, 0.5), (-0.5, 0.0), (0.0, 0.0)]:
        assert verdict(low, high, "greater") == verdict(low, high, "less") == "inconclusive"


def test_a_bad_direction_is_refused_even_without_data():
    with pytest.raises(ValueError, match="bigger"):
        paired_bootstrap([], [], "bigger")
