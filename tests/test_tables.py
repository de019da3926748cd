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
