"""Table rows with ``input: true`` show their experiment's input y (metrics.csv input_*); the
footnote mentions paper values only where a table has them."""

import pandas as pd

from metainv.report.tables import build_table, to_markdown


def test_an_input_row_reads_the_input_columns_of_its_experiment(tmp_path):
    for eid, inp, out in (("k10", 6.0, 12.0), ("k1000", 23.0, 30.0)):
        pd.DataFrame({"index": [0, 1], "PSNR": [out, out + 2], "input_PSNR": [inp, inp + 2],
                      "SSIM": [0.5, 0.6], "input_SSIM": [0.1, 0.2]}).to_csv(tmp_path / f"{eid}.csv", index=False)
    spec = {"paper_table": 2, "show_input": False, "metrics": ["PSNR", "SSIM"], "rows": [
        {"label": "10 (Input)", "experiment": "k10", "input": True, "paper_method": "Input"},
        {"label": "10 (Meta)", "experiment": "k10", "paper_method": "Meta", "paper_setting": "10"},
        {"label": "1000 (Input)", "experiment": "k1000", "input": True, "paper_method": "Input"}]}
    df = build_table(2, spec, {e: tmp_path / f"{e}.csv" for e in ("k10", "k1000")})
    psnr = df[df.metric == "PSNR"].set_index("label")["mean"]
    assert psnr.to_dict() == {"10 (Input)": 7.0, "10 (Meta)": 13.0, "1000 (Input)": 24.0}
    assert "Input (y)" not in set(df.label)
    md = to_markdown(df, "Table 2")
    assert "| 1000 (Input) | 24.00 ± 1.41 |" in md and "Gaussian window σ = 1.5" in md


def test_the_footnote_mentions_paper_values_only_when_the_table_has_some(tmp_path):
    pd.DataFrame({"index": [0, 1], "PSNR": [20.0, 22.0], "input_PSNR": [9.0, 10.0]}).to_csv(tmp_path / "m.csv", index=False)
    rows = [{"label": "Meta", "experiment": "m", "paper_method": "Meta", "paper_setting": "10"}]
    ours = to_markdown(build_table(5, {"paper_table": None, "metrics": ["PSNR"], "rows": rows}, {"m": tmp_path / "m.csv"}),
                       "Table 5")
    assert "(paper" not in ours and "paper's value" not in ours
    assert "Mean ± standard deviation over 2 validation images. *unavailable*" in ours
    paper = to_markdown(build_table(2, {"paper_table": 2, "metrics": ["PSNR"], "rows": rows}, {"m": tmp_path / "m.csv"}),
                        "Table 2")
    assert "(paper " in paper and "; the paper's value in parentheses." in paper
