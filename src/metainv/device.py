"""Device selection shared by every command."""

from __future__ import annotations

import torch

from metainv.errors import MetainvError


class DeviceError(MetainvError):
    """The requested device (``--device``) does not exist on this machine or is not a device name."""


def resolve_device(name: str = "auto", tf32: bool = False) -> torch.device:
    """``auto`` → CUDA when available, else CPU. ``tf32`` allows TF32 matmuls on Ampere+
    GPUs (off by default: second-order meta-gradients amplify rounding, see ARCHITECTURE.md)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise DeviceError(f"--device {name!r}: not a device (auto | cpu | cuda[:N]): {e}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: cuda requested but no CUDA device is available "
                              "(use --device cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    return device
