"""Solver kinds and the parameters each takes, named once for the package (no torch here).

:mod:`metainv.solvers` builds the solvers and re-exports these names; the config resolution
(:mod:`metainv.config`, run by every ``snakemake`` invocation) checks specs against them without
importing torch.
"""

from __future__ import annotations

from typing import Any, Mapping

from metainv.errors import ConfigError

#: Solver parameters per kind (beyond steps / tol / max_steps), named once for the package.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "none": (),
    "gd": (),
    "red": ("lam", "sigma_f", "relax"),
    "hqs": ("lam", "sigma_start", "sigma_end", "relax"),
    "tv": ("lam", "rho"),
}
#: Parameters without a usable default: a solver inside a meta experiment must be given them.
REQUIRED: dict[str, tuple[str, ...]] = {"red": ("lam", "sigma_f"), "hqs": ("lam",), "tv": ("lam", "rho")}
#: Kinds that call a denoiser.
DENOISING = ("red", "hqs")


def check_params(kind: str, params: Mapping[str, Any], key: str = "params",
                 complete: bool = False) -> dict[str, Any]:
    """``params`` of solver ``kind``; unknown names (and, with ``complete``, missing required
    ones) raise :class:`~metainv.errors.ConfigError` naming ``key``."""
    if kind not in PARAMETERS:
        raise ConfigError(f"{key}: unknown solver kind {kind!r}; known: {sorted(PARAMETERS)}")
    unknown = set(params) - set(PARAMETERS[kind])
    if unknown:
        raise ConfigError(f"{key}: unknown parameter(s) {sorted(unknown)} for a {kind} solver; "
                          f"known: {list(PARAMETERS[kind])}")
    missing = [p for p in REQUIRED.get(kind, ()) if p not in params]
    if complete and missing:
        hint = " (or solver.params_from)" if kind == "red" else ""
        raise ConfigError(f"{key}: a {kind} solver needs {missing}{hint}")
    return dict(params)


__all__ = ["DENOISING", "PARAMETERS", "REQUIRED", "check_params"]
