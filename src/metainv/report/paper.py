"""The paper's published numbers (Tables 1–4), shipped as tidy data in ``paper_results.csv``.

Columns: table, task, method, setting, metric, value. Copied from the paper's text; the
tables this package writes print them beside our numbers.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd


@lru_cache(maxsize=1)
def paper_results() -> pd.DataFrame:
    with resources.files("metainv.report").joinpath("paper_results.csv").open() as f:
        df = pd.read_csv(f, dtype={"setting": str}, keep_default_na=False)
    df["value"] = df["value"].astype(float)
    return df


def paper_value(table: int, method: str, setting: str, metric: str) -> float | None:
    """The paper's value, or None where the paper reports none."""
    df = paper_results()
    hit = df[(df.table == int(table)) & (df.method == method) & (df.setting == (setting or ""))
             & (df.metric == metric)]
    return float(hit.value.iloc[0]) if len(hit) else None
