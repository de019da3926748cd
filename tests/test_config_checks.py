"""Plan-time cross-field checks of metainv.config (issue 13): values that used to pass
``snakemake -n`` and fail in a job (some after training) are refused by ``resolve``, the
message naming the key. ``resolve`` is what the Snakefile calls; two of these cases also go
through a real ``snakemake -n`` in tests/workflow/test_plan_checks.py."""

from pathlib import Path

import pytest
import yaml
from PIL import Image

from metainv.config import available_images, deep_merge, load_config, resolve
from metainv.data.sample import sample_count, sample_images
from metainv.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
QUICK = [REPO / "config" / "config.yaml", REPO / "config" / "quick.yaml", REPO / "tests" / "workflow" / "tiny.yaml"]

#: (override of the tiny quick config, the key the message must name, a phrase of it).
#: tiny.yaml: sample source (4 crops per portrait → 108 images), inpaint_random at 32², deblur at 24².
BAD = [
    pytest.param({"data": {"source": "folder", "folder": "no/such/folder"}}, "config.data.folder",
                 "does not exist", id="folder-missing"),
    pytest.param({"data": {"n_val": 500}}, "config.data.n_val", "108 images", id="n_val-sample"),
    pytest.param({"data": {"n_val": 100, "n_train": 50}}, "config.data.n_train", "108 images",
                 id="n_train-sample"),
    pytest.param({"experiments": {"meta_random_k500": {"eval": {"observed": 5000}}}},
                 "config.experiments.meta_random_k500.eval.observed", "32×32", id="eval-observed"),
    pytest.param({"experiments": {"meta_random_k500": {"eval": {"observed": "halves"}}}},
                 "config.experiments.meta_random_k500.eval.observed", "'half'", id="eval-observed-word"),
    pytest.param({"tasks": {"inpaint_random": {"operator": {"observed_range": [10, 5000]}}}},
                 "config.tasks.inpaint_random.operator.observed_range", "1024", id="range-too-large"),
    pytest.param({"tasks": {"inpaint_random": {"operator": {"observed_range": [500, 10]}}}},
                 "config.tasks.inpaint_random.operator.observed_range", "not ordered", id="range-unordered"),
    pytest.param({"tasks": {"deblur": {"operator": {"kernel_size": 31}}}},
                 "config.tasks.deblur.operator.kernel_size", "24×24", id="kernel-larger-than-image"),
    pytest.param({"tasks": {"deblur": {"operator": {"kernel_size": 4}}}},
                 "config.tasks.deblur.operator.kernel_size", "odd", id="kernel-even"),
    pytest.param({"experiments": {"meta_center_m2": {"eval": {"data_consistency": True}}}},
                 "config.experiments.meta_center_m2.eval.data_consistency", "solver kind none",
                 id="data-consistency-gd"),
    pytest.param({"experiments": {"red_12": {"eval": {"data_consistency": True}}}},
                 "config.experiments.red_12.eval.data_consistency", "meta experiments",
                 id="data-consistency-classical"),
    pytest.param({"data": {"tuning": 100}}, "config.data.tuning", "training split has",
                 id="tuning"),
    pytest.param({"experiments": {"meta_center_m2": {"solver": {"learn": ["lam"]}}}},
                 "config.experiments.meta_center_m2.solver.learn", "only a red solver", id="learn-gd"),
    pytest.param({"experiments": {"red_12": {"eval": {"inner_steps": 2}}}},
                 "config.experiments.red_12.eval.inner_steps", "only meta experiments", id="inner-steps-red"),
    pytest.param({"data": {"n_val": 19_868, "source": "celeba"}}, "config.data.n_val", "19867",
                 id="n_val-celeba"),
    pytest.param({"experiments": {"tv_new": {"task": "mri", "method": "tv",
                                             "classical": {"tune": {"grid": {"lam": [0.001]}}}}}},
                 "config.experiments.tv_new.classical.params (or its tune.grid)", "needs ['rho']", id="tv-no-rho"),
    pytest.param({"experiments": {"tv_mri": {"classical": {"params": {"sigma_f": 0.05}}}}},
                 "config.experiments.tv_mri.classical.params", "unknown parameter", id="tv-red-parameter"),
]


@pytest.fixture(scope="module")
def tiny():
    config: dict = {}
    for path in QUICK:
        config = deep_merge(config, yaml.safe_load(path.read_text()))
    return config


def test_the_tiny_config_passes(tiny):
    resolve(deep_merge(tiny, {}))


@pytest.mark.parametrize("override, key, phrase", BAD)
def test_bad_values_are_refused_at_plan_time_naming_the_key(tiny, override, key, phrase):
    with pytest.raises(ConfigError) as info:
        resolve(deep_merge(tiny, override))
    message = str(info.value)
    assert message.startswith(key + ":"), message
    assert phrase in message, message


def test_the_sample_count_is_what_the_sample_set_builds():
    images, _ = sample_images(8, crops_per_portrait=3)
    assert len(images) == sample_count(3) == 106


def test_a_folder_is_counted_and_n_val_must_leave_training_images(tmp_path, tiny):
    folder = tmp_path / "faces"
    (folder / "sub").mkdir(parents=True)
    for i in range(20):
        Image.new("RGB", (8, 8)).save(folder / ("sub" if i % 2 else "") / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    data = {"source": "folder", "folder": str(folder)}
    assert available_images({**tiny["data"], **data}) == {"pool": 20}
    resolve(deep_merge(tiny, {"data": {**data, "n_val": 4}}))  # 16 training images, 8 of them tuning
    with pytest.raises(ConfigError, match=r"^config\.experiments\.\w+\.(outer|train)\.batch_size: \d images"):
        resolve(deep_merge(tiny, {"data": {**data, "n_val": 9}}))  # 11 training images: 3 to train on
    with pytest.raises(ConfigError, match=r"^config\.data\.tuning: 8 tuning images"):
        resolve(deep_merge(tiny, {"data": {**data, "n_val": 12}}))  # 8 training images, all tuning
    with pytest.raises(ConfigError, match=r"^config\.data\.n_val: 20 validation images"):
        resolve(deep_merge(tiny, {"data": {**data, "n_val": 20}}))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"^config\.data\.folder: .*no .* images"):
        resolve(deep_merge(tiny, {"data": {"source": "folder", "folder": str(empty)}}))
    with pytest.raises(ConfigError, match=r"^config\.data\.folder: .*is not a directory"):
        resolve(deep_merge(tiny, {"data": {"source": "folder", "folder": str(folder / "0.png")}}))


def test_an_unknown_key_shows_the_key_and_the_allowed_keys_only(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("experimnets: {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(*QUICK, bad)
    message = str(info.value)
    assert "'experimnets' was unexpected" in message
    assert "allowed keys: seed, device, tf32, threads, data, tasks," in message
    assert len(message) < 400 and "\n" not in message  # never the schema
    bad.write_text("data: {n_vall: 3}\n")
    with pytest.raises(ConfigError, match=r"data: .*'n_vall' was unexpected.*allowed keys: source, folder, n_train"):
        load_config(*QUICK, bad)
