"""Draw docs/img/paper_vs_reproduction.png: the paper's difference between two of its table
entries beside ours on real faces (mean paired difference over the validation faces with its
95 % bootstrap interval).

Ours: docs/data/real_faces_summary.csv (from docs/results.md); the paper's: the two entries
of ``metainv/report/paper_results.csv`` each row names. Run: ``python docs/paper_vs_reproduction.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from metainv.atomic import save_figure  # noqa: E402
from metainv.report.paper import paper_value  # noqa: E402

HERE = Path(__file__).resolve().parent


def paper_differences(summary: pd.DataFrame) -> list[float]:
    """The paper's A − B for each row: two values of paper_results.csv."""
    out = []
    for r in summary.itertuples():
        a = paper_value(r.a_table, r.a_method, r.a_setting, r.metric)
        b = paper_value(r.b_table, r.b_method, r.b_setting, r.metric)
        if a is None or b is None:
            raise ValueError(f"{r.comparison}: the paper reports no value for one side")
        out.append(a - b)
    return out


def draw(summary_csv: Path, out_png: Path) -> Path:
    summary = pd.read_csv(summary_csv, dtype={"a_setting": str, "b_setting": str}, keep_default_na=False)
    paper = paper_differences(summary)
    n = len(summary)
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * n + 1.2))
    y = list(range(n))[::-1]
    low = summary.mean_diff - summary.ci_low
    high = summary.ci_high - summary.mean_diff
    ax.errorbar(summary.mean_diff, y, xerr=[low, high], fmt="o", color="C0", ms=5, capsize=3,
                label="ours: 200 CelebA validation faces,\n95 % paired bootstrap interval")
    ax.scatter(paper, y, marker="D", facecolors="none", edgecolors="C3", s=40, lw=1.3, zorder=3, label="paper")
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(summary.comparison, fontsize=8)
    values = list(summary.ci_low) + list(summary.ci_high) + paper
    ax.set_xlim(min(values) - 0.8, max(values) + 0.8)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xlabel("A − B, PSNR (dB)")
    ax.set_title("Paper vs reproduction: paired differences A − B", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", color="0.9")
    fig.tight_layout()
    try:
        return save_figure(fig, out_png, dpi=110)
    finally:
        plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", type=Path, default=HERE / "data" / "real_faces_summary.csv")
    parser.add_argument("--out", type=Path, default=HERE / "img" / "paper_vs_reproduction.png")
    args = parser.parse_args(argv)
    print(draw(args.summary, args.out))


if __name__ == "__main__":
    main()
