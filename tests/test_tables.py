"""Paper tables: the paper's number format and the booktabs LaTeX output."""

import pandas as pd
import pytest

from metainv.report.tables import INPUT_LABEL, paper_format, write_table


@pytest.mark.parametrize("metric, value, text", [
    ("PSNR", 32.94, "32.9"), ("SSIM", 0.96712, "0.967"), ("MSE", 6.83e-4, "6.8e-4"),
    ("LPIPS_alex", 0.02263, "0.0226"), ("LPIPS_vgg", 0.1012, "0.101"), ("LPIPS_alex", 5.64e-3, "5.6e-3"),
    ("PSNR", float("nan"), "--"),
])
def test_numbers_are_formatted_like_the_paper(metric, value, text):
    assert paper_format(metric, value) == text


def test_latex_table_is_booktabs_with_best_in_bold_and_paper_alongside(tmp_path):
    frames = {
        "meta": pd.DataFrame({"PSNR": [30.0, 31.0], "input_PSNR": [15.0, 15.2], "SSIM": [0.90, 0.92],
                              "input_SSIM": [0.5, 0.5], "MSE": [1e-3, 8e-4], "input_MSE": [0.03, 0.03]}),
        "unet": pd.DataFrame({"PSNR": [32.0, 33.0], "input_PSNR": [15.0, 15.2], "SSIM": [0.89, 0.91],
                              "input_SSIM": [0.5, 0.5], "MSE": [6e-4, 5e-4], "input_MSE": [0.03, 0.03]}),
    }
    paths = {}
    for eid, frame in frames.items():
        paths[eid] = tmp_path / f"{eid}.csv"
        frame.to_csv(paths[eid], index=False)
    spec = {"title": "Table 1: centre inpainting (1/9 of the area, 128²)", "paper_table": 1,
            "metrics": ["PSNR", "SSIM", "MSE"],
            "rows": [{"label": "Meta-2", "experiment": "meta", "paper_method": "Meta-2"},
                     {"label": "UNet", "experiment": "unet", "paper_method": "UNet"},
                     {"label": "Meta_7 & co", "experiment": "absent", "paper_method": "Meta-7"}]}
    write_table(1, spec, paths, tmp_path / "t.csv", tmp_path / "t.md", tmp_path / "t.tex")
    tex = (tmp_path / "t.tex").read_text()
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr){2-3}", r"\begin{tabular}{l rr rr rr}"):
        assert token in tex
    rows = {line.split(" & ")[0]: line.split(" & ")[1:] for line in tex.splitlines() if " & " in line}
    # ours then the paper's value per metric; best of ours in bold, per direction of the metric
    assert rows["UNet"][:2] == [r"\textbf{32.5}", "32.9"]
    assert rows["Meta-2"][:2] == ["30.5", "32.2"]
    assert rows["Meta-2"][2] == r"\textbf{0.910}" and rows["UNet"][4] == r"\textbf{5.5e-4}"
    assert rows[INPUT_LABEL.replace("(y)", "(y)")][0] == "15.1"  # input row never bold
    assert rows[r"Meta\_7 \& co"][0] == r"\emph{not run}" and rows[r"Meta\_7 \& co"][1] == "32.7"
    assert r"128$^2$" in tex and "Table 1:" not in tex and r"\label{tab:table1}" in tex


def test_figure_rows_show_each_settings_own_measurement(tmp_path):
    import numpy as np

    from metainv.config import figure_experiments, figure_layout
    from metainv.report.figures import grid_rows, plot_panel_rows

    flat = {"Meta-2": "m2", "UNet": "unet"}
    nested = {"10": {"Meta": "m_k10", "UNet": "u_k10"}, "half": {"Meta": "m_half", "UNet": "u_half"}}
    assert figure_layout(flat) == [("", flat)]
    assert figure_layout(nested) == [("10", nested["10"]), ("half", nested["half"])]
    assert figure_experiments(nested) == ["m_k10", "u_k10", "m_half", "u_half"]
    with pytest.raises(ValueError):
        figure_layout({"a": "x", "b": {"c": "y"}})
    ids = figure_experiments(nested)
    value = {eid: float(k) for k, eid in enumerate(ids)}
    recon = {eid: np.full((2, 4, 4, 3), value[eid] / 10) for eid in ids}
    measurement = {eid: np.full((2, 4, 4, 3), 0.5 + value[eid] / 10) for eid in ids}
    psnr = {eid: [value[eid], value[eid]] for eid in ids}
    gt = np.zeros((2, 4, 4, 3))
    rows = grid_rows(gt, figure_layout(nested), recon, measurement, psnr, psnr, n_images=2)
    assert [label for label, _ in rows] == ["10", "half", "10", "half"]
    # the "half" row's input is the half experiments' measurement, not the K = 10 one
    name, img, _ = rows[1][1][0]
    assert name == "input" and img[0, 0, 0] == pytest.approx(0.5 + value["m_half"] / 10)
    assert [p[0] for p in rows[1][1]] == ["input", "Meta", "UNet", "ground truth"]
    out = plot_panel_rows(rows, tmp_path / "fig.png", "Figure 2")
    assert out.stat().st_size > 0
