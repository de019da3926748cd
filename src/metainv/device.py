"""Device selection shared by every command."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto", tf32: bool = False) -> torch.device:
    """``auto`` → CUDA when available, else CPU. ``tf32`` allows TF32 matmuls on Ampere+
    GPUs (off by default: second-order meta-gradients amplify rounding, see ARCHITECTURE.md)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device: cuda requested but no CUDA device is available")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    return device
