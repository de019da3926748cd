"""Classical reference for random missing pixels (Table 2): linear interpolation.

Each image's observed pixels are triangulated (Delaunay, scipy's Qhull) and every pixel gets
the barycentric (piecewise-linear) interpolation of the observed values of its triangle —
``scipy.interpolate.griddata(method="linear")`` — and, outside the observed pixels' convex
hull, the value of the nearest observed pixel. Observed pixels keep their values. One
triangulation per image serves all colour channels. Not differentiable and not iterative: it
needs no training and no parameters.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator
from scipy.spatial import QhullError
from threadpoolctl import threadpool_limits


def interpolate_image(y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Linear interpolation of the observed pixels of one C×H×W image (``mask`` H×W, nonzero =
    observed); nearest neighbour outside their convex hull; zeros if nothing is observed."""
    h, w = mask.shape
    observed = mask > 0
    pts = np.argwhere(observed).astype(np.float64)
    if len(pts) == 0:
        return np.zeros_like(y)
    grid = np.mgrid[0:h, 0:w].reshape(2, -1).T.astype(np.float64)
    vals = y[:, observed].T.astype(np.float64)  # n_observed × C
    if len(pts) == 1:
        near = np.repeat(vals, len(grid), 0)
    else:
        near = NearestNDInterpolator(pts, vals)(grid)
    try:
        lin = LinearNDInterpolator(pts, vals)(grid)
    except (QhullError, ValueError):  # fewer than 3 points, or all on one line: no triangle
        lin = np.full_like(near, np.nan)
    out = np.where(np.isnan(lin), near, lin)
    return out.T.reshape(y.shape).astype(y.dtype)


def interpolate_batch(y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """:func:`interpolate_image` for N×C×H×W measurements and N×1×H×W (or N×H×W) masks.

    Runs with one BLAS thread (threadpoolctl): with torch loaded, OpenBLAS's thread pool made
    each call take seconds instead of milliseconds on a busy 2-core machine.
    """
    mask = mask.reshape(len(y), *y.shape[-2:])
    with threadpool_limits(limits=1):
        return np.stack([interpolate_image(yi, mi) for yi, mi in zip(y, mask)])


__all__ = ["interpolate_image", "interpolate_batch"]
