"""Shared set-up for the benchmark scripts: the resolved configuration, one meta-step of an
experiment built from the package's own functions, face data through the package's store,
timing and peak memory, and an audit of host↔device transfers.

Every size, rate, operator and solver parameter comes from the resolved configuration
(``--config config/config.yaml [--config config/quick.yaml]``, default the paper config);
nothing here restates a setting of the config.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from metainv.config import Resolved, denoiser_spec, load_config, resolve
from metainv.data.store import load_split, split_tuning
from metainv.meta.maml import adapt, make_outer_loss
from metainv.meta.model import build_model
from metainv.metrics import psnr_torch
from metainv.recon import measure
from metainv.solvers import build_solver

REPO = Path(__file__).resolve().parents[1]
PAPER_CONFIG = REPO / "config" / "config.yaml"
TINY_CONFIG = Path(__file__).resolve().parent / "tiny.yaml"


# -- configuration ----------------------------------------------------------------------------
def add_config_argument(parser: argparse.ArgumentParser, default: Sequence[Path] = (PAPER_CONFIG,)) -> None:
    """``--config FILE`` (repeatable, later files merged over earlier ones, as Snakemake's
    ``--configfile``); without it the paper config ``config/config.yaml``."""
    parser.add_argument("--config", type=Path, action="append", default=None, metavar="FILE",
                        help="config file(s) merged in order (default: config/config.yaml; "
                             "e.g. --config config/config.yaml --config config/quick.yaml)")
    parser.set_defaults(_config_default=list(default))


def config_paths(args: argparse.Namespace) -> list[Path]:
    return list(args.config or args._config_default)


def config_label(args: argparse.Namespace) -> str:
    """The config files of a run, for the printed header: ``config.yaml + quick.yaml``."""
    return " + ".join(Path(p).name for p in config_paths(args))


def resolved_config(paths: Sequence[str | Path], overrides: Mapping | None = None) -> Resolved:
    """``metainv.config.resolve`` of the config files merged in order, then ``overrides``
    (a nested dict merged over them, validated like a config file)."""
    from metainv.config import deep_merge, validate_config

    config = load_config(*paths)
    if overrides:
        config = validate_config(deep_merge(config, overrides))
    return resolve(config)


def solver_params(resolved: Resolved, spec: Mapping, params_path: str | Path | None = None) -> dict | None:
    """The RED/HQS parameters an experiment's solver runs with: the tuned ``params.json`` when
    given, else those configured for the experiment its ``params_from`` names (classical
    ``params``), else the solver's own ``params``."""
    from metainv.classical import read_params

    if params_path is not None:
        return read_params(params_path)
    block = spec["unrolled"] if spec["method"] == "unrolled" else spec["solver"]
    source = block.get("params_from")
    if source:
        return dict(resolved.all[source]["classical"]["params"])
    return dict(block.get("params") or {}) or None


def build_denoiser(resolved: Resolved, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                   seed: int | None = None) -> torch.nn.Module:
    """The DnCNN prior of ``config.denoiser`` (depth, features, noise level), freshly
    initialised from the run's seed as the ``train_denoiser`` stage does (in eval mode)."""
    from metainv.nets.dncnn import DnCNN

    spec = denoiser_spec(resolved.config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec["seed"] if seed is None else seed))
        net = DnCNN(channels=3, depth=int(spec["depth"]), features=int(spec["features"]),
                    noise_level=float(spec["noise_std"]))
    return net.to(device, dtype).eval()


# -- one meta-step of an experiment -------------------------------------------------------------
@dataclass
class MetaProblem:
    """One meta-batch of an experiment: the outer loss of one meta-step and what it trains."""

    spec: dict
    loss: Callable[[], torch.Tensor]         # outer loss (Eq. 5) through m inner steps (Algorithm 1)
    infer: Callable[[], torch.Tensor]        # Algorithm 1's inference path on the same batch
    groups: list[dict]                       # Adam parameter groups, as the meta_train stage builds them
    images: int                              # tasks per meta-batch
    params: list[torch.Tensor] = field(default_factory=list)  # every meta-parameter
    op: object = None                        # the batch's operator (metainv.recon.measure)
    solver: object = None                    # f, as metainv.solvers.build_solver made it
    siren: object = None                     # the SIREN (or ModulatedSiren) whose θ it trains

    def optimiser_step(self) -> Callable[[], None]:
        """zero_grad, backward of the outer loss, gradient clipping (``outer.grad_clip``) and
        the Adam update: one outer step of Algorithm 2."""
        opt = torch.optim.Adam(self.groups)
        clip = self.spec["outer"].get("grad_clip")

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            self.loss().backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(self.params, clip)
            opt.step()

        return step


def meta_problem(resolved: Resolved, eid: str, device: torch.device, dtype: torch.dtype = torch.float32,
                 seed: int = 0, spec: Mapping | None = None, denoiser: torch.nn.Module | None = None,
                 params_path: str | Path | None = None, fold_denoiser: bool = True) -> MetaProblem:
    """The meta-step of experiment ``eid`` (or of ``spec``, e.g. one with a changed key) on
    random images at its task's resolution and batch size: θ and α from
    :func:`metainv.meta.model.build_model` (``inner.lr_param`` as configured), the operator
    and noisy measurement from :func:`metainv.recon.measure`, f from
    :func:`metainv.solvers.build_solver` (RED with a fresh DnCNN of ``config.denoiser``,
    λ and σ_f from ``params_from``; a frozen DnCNN folded unless ``fold_denoiser`` is False),
    the outer loss from :func:`make_outer_loss`."""
    spec = copy.deepcopy(dict(spec if spec is not None else resolved.all[eid]))
    batch, res = int(spec["outer"]["batch_size"]), int(spec["task"]["resolution"])
    siren, rates = build_model(spec, torch.Generator().manual_seed(seed))
    siren.to(device, dtype)
    rates.to(device, dtype)
    groups = [{"params": list(siren.parameters()), "lr": spec["outer"]["lr"]},
              {"params": list(rates.parameters()), "lr": spec["outer"]["inner_lr_lr"]}]
    if spec["solver"]["kind"] in ("red", "hqs"):
        finetune = bool(spec["denoiser"]["finetune"])
        denoiser = denoiser if denoiser is not None else build_denoiser(resolved, device, dtype, seed)
        denoiser.requires_grad_(finetune)
        if finetune:
            groups.append({"params": list(denoiser.parameters()), "lr": spec["denoiser"]["lr"]})
    solver = build_solver(spec["solver"], denoiser=denoiser, params=solver_params(resolved, spec, params_path),
                          fold_frozen_denoiser=fold_denoiser)
    x = torch.rand(batch, 3, res, res, generator=torch.Generator().manual_seed(seed + 1)).to(device, dtype)
    op, y = measure(spec, x, torch.Generator().manual_seed(seed + 2))
    outer_loss = make_outer_loss(spec["outer"]["loss"], device, spec["outer"]["lpips_net"])
    inner = spec["inner"]
    steps, second, reduction = int(inner["steps"]), inner["order"] == "second", inner["loss_reduction"]

    def loss() -> torch.Tensor:
        out = adapt(siren, rates, y, op, solver, steps, second_order=second, reduction=reduction).output
        return outer_loss(out, x)

    def infer() -> torch.Tensor:
        return adapt(siren, rates, y, op, solver, steps, track_meta_gradient=False, reduction=reduction).output

    params = [p for g in groups for p in g["params"]]
    return MetaProblem(spec, loss, infer, groups, batch, params, op, solver, siren)


def describe(spec: Mapping, resolved: Resolved | None = None) -> str:
    """The sizes an experiment's meta-step runs at, for the printed tables."""
    s, res = spec["siren"], spec["task"]["resolution"]
    text = (f"{res}², {s['layers']}×{s['hidden']}, m={spec['inner']['steps']}, "
            f"B={spec['outer']['batch_size']}")
    if resolved is not None and spec["solver"]["kind"] in ("red", "hqs"):
        d = denoiser_spec(resolved.config)
        text += f", f={spec['solver']['steps']}, DnCNN {d['depth']}×{d['features']}"
    return text


# -- face data through the package's store -----------------------------------------------------
def store_dir(resolved: Resolved, resolution: int, data: str | Path | None = None) -> Path:
    """The data store of the configured source at ``resolution``: ``data`` when given, else
    the workflow's ``data/processed/<source>/<resolution>`` when it exists, else one built
    once (in ``$TMPDIR/metainv-bench``) by the package's own preparation —
    :func:`metainv.data.sample.prepare_sample` or :func:`metainv.data.folder.prepare_folder`
    with ``config.data``'s counts, seed and crop."""
    if data is not None:
        return Path(data)
    cfg = resolved.config["data"]
    source = cfg["source"]
    workflow_store = REPO / "data" / "processed" / source / str(resolution)
    if (workflow_store / "manifest.json").exists():
        return workflow_store
    key = hashlib.sha256(json.dumps({**cfg, "seed": resolved.config["seed"]}, sort_keys=True,
                                    default=str).encode()).hexdigest()[:12]
    out = Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "metainv-bench" / f"{source}-{key}" / str(resolution)
    if (out / "manifest.json").exists():
        return out
    seed = int(resolved.config["seed"])
    if source == "sample":
        from metainv.data.sample import prepare_sample

        prepare_sample(out, resolution, n_val=int(cfg["n_val"]), seed=seed,
                       crops_per_portrait=int(cfg["sample"]["crops_per_portrait"]), n_train=cfg["n_train"])
    elif source == "folder":
        from metainv.data.commands import parse_crop
        from metainv.data.folder import prepare_folder

        prepare_folder(cfg["folder"], out, resolution, cfg["n_train"], int(cfg["n_val"]), seed,
                       parse_crop(cfg["crop"], "folder"), cfg["on_corrupt"], workers=cfg["workers"],
                       progress=False, min_size=cfg["min_size"])
    else:
        raise SystemExit(f"no {source} store at {workflow_store}: build it with the workflow "
                         f"(snakemake {workflow_store}/manifest.json) or pass --data DIR")
    return out


def face_splits(resolved: Resolved, resolution: int, data: str | Path | None = None) -> dict[str, np.ndarray]:
    """{"train", "tune", "val"} uint8 N×H×W×C: the training split less its tuning tail
    (``data.tuning``, :func:`metainv.data.store.split_tuning`), the tuning split (every choice
    is made on it) and the validation split (only scored)."""
    folder = store_dir(resolved, resolution, data)
    train = load_split(folder, "train")
    fit, tuning = split_tuning(len(train), int(resolved.config["data"]["tuning"]))
    return {"train": train[fit], "tune": train[tuning], "val": load_split(folder, "val")}


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data STORE`` (a prepared store) and ``--folder DIR`` (face images: ``data.source:
    folder``, ``data.folder: DIR``, e.g. with ``--config config/faces.yaml``)."""
    parser.add_argument("--data", type=Path, default=None, metavar="STORE",
                        help="prepared store (train.npy, val.npy, manifest.json) at the task's resolution "
                             "(default: the workflow's data/processed/<source>/<res>, else built from config.data)")
    parser.add_argument("--folder", type=Path, default=None, metavar="DIR",
                        help="folder of face images to prepare (sets data.source: folder, data.folder: DIR)")


def data_overrides(args: argparse.Namespace) -> dict:
    return {"data": {"source": "folder", "folder": str(args.folder)}} if args.folder else {}


def train_meta(spec: Mapping, data_dir: str | Path, device: torch.device = torch.device("cpu"),
               denoiser_path: str | Path | None = None, solver_params_path: str | Path | None = None):
    """Meta-train ``spec`` with the workflow's own stage (:func:`metainv.stages.meta_train.meta_train`,
    Algorithm 2 through :class:`metainv.train.Trainer`) in a temporary folder; returns
    (log rows, the saved model dict, θ, α) as :func:`~metainv.metamodel.load_meta_model` reads them."""
    from metainv.metamodel import load_meta_model as load_model
    from metainv.stages.meta_train import meta_train

    with tempfile.TemporaryDirectory(prefix="metainv-bench-") as tmp:
        model = Path(tmp) / "model.pt"
        rows = meta_train(spec, data_dir, model, Path(tmp) / "train_log.csv", device, progress=False,
                          denoiser_path=denoiser_path, solver_params_path=solver_params_path)
        state, siren, rates = load_model(model, device)
    return rows, state, siren, rates


def psnr_observed(x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR on the observed pixels of ``mask`` only: :func:`metainv.metrics.psnr_torch`
    of the masked images, whose MSE is over all N pixels, rescaled to the |M| observed ones."""
    mask = torch.broadcast_to(mask, x.shape).to(x.dtype)
    share = mask.flatten(1).mean(1).clamp(min=1e-12)
    return psnr_torch(x * mask, target * mask) + 10.0 * torch.log10(share)


# -- timing and memory --------------------------------------------------------------------------
def _status_kib(field: str) -> float | None:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status in KiB (None off Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> float | None:
    """Reset the process's resident-set high-water mark (Linux: ``echo 5 > clear_refs``) and
    return the current RSS in MiB; None where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    rss = _status_kib("VmRSS")
    return None if rss is None else rss / 1024


def peak_rss_mib() -> float:
    """The process's resident-set high-water mark in MiB (VmHWM, else ru_maxrss)."""
    hwm = _status_kib("VmHWM")
    return hwm / 1024 if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_and_peak(fn: Callable[[], None], device: torch.device, repeats: int,
                  cpu_delta: bool = False) -> tuple[float, float]:
    """Seconds per call of ``fn`` (after one warm-up call) and peak memory in MiB
    (CUDA: max allocated during the timed calls; CPU: the process's max resident size, or with
    ``cpu_delta`` its growth over the resident size before the warm-up, where Linux lets the
    high-water mark be reset)."""
    base = reset_peak_rss() if (cpu_delta and device.type == "cpu") else None
    fn()  # warm-up (cuDNN autotuning, allocator)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        # Linux syncs per-thread RSS counters lazily, so the high-water mark can read a few
        # hundred KiB below the RSS sampled just after its reset: no growth reads as 0
        peak = max(0.0, peak_rss_mib() - (base or 0.0))
    return (time.perf_counter() - t0) / repeats, peak


class HostSyncAudit(TorchDispatchMode):
    """Records the calls that make the host wait for the device inside a region of code.

    ``.item()`` / ``float()`` / ``bool()`` of a tensor (``aten._local_scalar_dense``: a
    device→host copy the host must wait for) and explicit copies between the CPU and another
    device (``.to(device)``, ``.cpu()``: a pageable host→device copy also waits for the work
    queued before it). Each is attributed to the innermost ``src/metainv`` (else non-torch)
    source line. Run the region with tensors on the ``meta`` device to see every such call at
    no cost: there a scalar read returns ``1`` (``fake_scalar``) so the region runs to the end.
    Scalar tensors built from Python numbers on the device (``torch.as_tensor(0.5, device=d)``)
    bypass the dispatcher's Python modes and are not seen.
    """

    def __init__(self, fake_scalar: bool = True):
        super().__init__()
        self.fake_scalar = fake_scalar
        self.sites: Counter[tuple[str, str]] = Counter()

    @staticmethod
    def _site() -> str:
        frames = traceback.extract_stack()[:-3]
        ours = [f for f in frames if "/metainv/" in f.filename.replace("\\", "/")]
        other = [f for f in frames if "/torch/" not in f.filename.replace("\\", "/")]
        frame = (ours or other or frames)[-1]
        path = frame.filename.replace("\\", "/")
        path = path[path.rfind("/metainv/") + 1:] if "/metainv/" in path else Path(path).name
        return f"{path}:{frame.lineno} ({frame.name})"

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if func is torch.ops.aten._local_scalar_dense.default:
            if tensors and tensors[0].device.type == "cpu":  # a host tensor: nothing to wait for
                return func(*args, **kwargs)
            self.sites[("scalar read (.item/float/bool)", self._site())] += 1
            if self.fake_scalar and tensors and tensors[0].device.type == "meta":
                return 1 if not tensors[0].is_floating_point() else 1.0
            return func(*args, **kwargs)
        out = func(*args, **kwargs)
        if func in (torch.ops.aten._to_copy.default, torch.ops.aten.copy_.default) and tensors:
            src = (tensors[-1] if func is torch.ops.aten.copy_.default else tensors[0]).device.type
            dst = out.device.type if isinstance(out, torch.Tensor) else src
            if src != dst and "cpu" in (src, dst):
                self.sites[(f"copy {src}→{dst}", self._site())] += 1
        return out


def parse_or_run_one(parser: argparse.ArgumentParser, one: Callable[..., dict], repeats: int) -> argparse.Namespace | None:
    """Add ``--device`` (default CUDA when present) and ``--repeats``, and parse the command
    line; in a child of :func:`run_in_fresh_process` (``--one JSON``) run ``one(**JSON)``,
    print its JSON result and return None."""
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when present)")
    parser.add_argument("--repeats", type=int, default=repeats, help="timed steps after a warm-up")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(**json.loads(args.one))))
        return None
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return args


def run_in_fresh_process(script: str, spec: dict) -> dict:
    """Run ``script --one '<spec as JSON>'`` in a new Python process and return the JSON dict
    it prints last: each measurement starts from an empty allocator, so peak memory is its own."""
    proc = subprocess.run([sys.executable, script, "--one", json.dumps(spec)], capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])
