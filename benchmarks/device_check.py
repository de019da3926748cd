"""Device check: what one machine does with this project, in one run (issue 12).

    python benchmarks/device_check.py                # on a GPU: the paper config + the end-to-end smoke run
    python benchmarks/device_check.py --tiny         # CPU, benchmarks/tiny.yaml sizes, smoke only planned (the test)
    python benchmarks/device_check.py --config config/config.yaml --config config/quick.yaml
    python benchmarks/device_check.py --json out.json

Sizes come from the resolved configuration (``--config``, default ``config/config.yaml``):
the steps are timed at its sizes (with ``--tiny``, or on a CPU without ``--config``:
``benchmarks/tiny.yaml`` merged over it), and its FLOPs and GPU-hours are estimated.

Sections, in order (each starts with a ``== name ==`` line):

machine      GPU, driver, torch, CUDA, cuDNN, CPU.
roofline     dense GEMM rate in fp32, TF32 (CUDA only) and bf16 at the SIREN's matrix shapes
             of the timed config (the batched products of the forward pass and of the weight
             gradient).
steps        every registered step kind (``step_kinds.py``: Tables 1–4 meta-steps, a DnCNN
             training step; more can be registered): ms/step, images/s, peak memory (CUDA:
             max allocated; CPU: growth of the resident set), FLOPs per step counted by
             ``torch.utils.flop_counter`` (matrix products and convolutions only) and the
             achieved fraction of the roofline of the precision the step ran in.
host syncs   scalar reads and CPU↔device copies per step, found by running each step on the
             ``meta`` device (no arithmetic) under an audit; should be empty.
precision    ‖g − g64‖/‖g64‖ of the second-order meta-gradient in float32 and TF32.
flops        FLOPs per step and per evaluated image at the sizes of ``--config`` (without
             ``--tiny``), counted on the meta device (runs anywhere in seconds), and the GPU-hours
             to run that config estimated from them: configured steps × FLOPs ÷ an *assumed*
             achieved rate, plus evaluation; on a GPU without ``--tiny`` also from the measured
             step times.
smoke        ``snakemake --cores all --configfile config/gpu-smoke.yaml`` in a copy of the
             workflow (``run``), or only its plan (``-n``, ``plan``); wall time, per-rule
             benchmark times and the tables.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[1]
if (REPO / "src").is_dir() and str(REPO / "src") not in sys.path:
    sys.path.insert(0, str(REPO / "src"))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from _common import PAPER_CONFIG, TINY_CONFIG, HostSyncAudit, resolved_config, time_and_peak  # noqa: E402
from metainv.config import Resolved, denoiser_spec  # noqa: E402
from step_kinds import STEP_KINDS, size_note  # noqa: E402

# Published dense (no sparsity) peak rates of one H100 SXM, TFLOP/s: the *assumption* behind the
# FLOP-based GPU-hours estimate (never a measurement of this project's code)
H100_SPEC_TFLOPS = {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4}
SECTIONS = ("machine", "roofline", "steps", "host syncs", "precision", "flops", "smoke")


def header(name: str) -> None:
    print(f"\n== {name} ==", flush=True)


@contextlib.contextmanager
def precision_mode(mode: str):
    """``tf32`` allows TF32 in CUDA matmuls and convolutions for the block (as ``tf32: true``
    does in metainv.device); ``fp32`` / ``bf16`` / ``fp64`` keep them off."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = mode == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def dtype_of(mode: str) -> torch.dtype:
    return {"fp64": torch.float64, "fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}[mode]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# -- machine ------------------------------------------------------------------------------
def machine(device: torch.device) -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "cpu_threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
            "device": str(device)}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update(gpu=p.name, gpu_memory_gib=round(p.total_memory / 2**30, 1), sms=p.multi_processor_count,
                    capability=f"{p.major}.{p.minor}", cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
        try:
            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            info["driver"] = "unknown (no nvidia-smi)"
    else:
        info.update(gpu="none", cuda=torch.version.cuda or "none")
    for k, v in info.items():
        print(f"{k:16s} {v}")
    return info


# -- roofline -----------------------------------------------------------------------------
def gemm_shapes(resolved: Resolved) -> dict[str, tuple[int, int, int, int]]:
    """(batch, M, K, N) of the SIREN's batched products: B tasks × P pixels × hidden width, for
    the Table 1 and Table 2 experiments of ``resolved``."""
    out = {}
    for eid, short in (("meta_center_m2", "T1"), ("meta_random", "T2")):
        spec = resolved.all[eid]
        res, hidden, batch = spec["task"]["resolution"], spec["siren"]["hidden"], spec["outer"]["batch_size"]
        p = res * res
        out[f"{short} fwd  [{batch}×{p}×{hidden}]·[{hidden}×{hidden}]"] = (batch, p, hidden, hidden)
        out[f"{short} dW   [{batch}×{hidden}×{p}]·[{p}×{hidden}]"] = (batch, hidden, p, hidden)
    return out


def gemm_rate(shape, mode: str, device: torch.device, min_seconds: float) -> float:
    """Measured TFLOP/s of torch.bmm at ``shape`` in ``mode`` (2·B·M·K·N FLOPs per product)."""
    b, m, k, n = shape
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(b, m, k, generator=gen).to(device, dtype_of(mode))
    c = torch.randn(b, k, n, generator=gen).to(device, dtype_of(mode))
    with precision_mode(mode):
        for _ in range(3):
            torch.bmm(a, c)
        sync(device)
        reps, t0 = 0, time.perf_counter()
        while True:
            for _ in range(10):
                torch.bmm(a, c)
            reps += 10
            sync(device)
            if time.perf_counter() - t0 >= min_seconds:
                break
    return 2 * b * m * k * n * reps / (time.perf_counter() - t0) / 1e12


def roofline(device: torch.device, resolved: Resolved, modes: list[str], min_seconds: float) -> dict:
    shapes = gemm_shapes(resolved)
    print(f"{'shape (bmm)':44s}" + "".join(f"{m + ' TFLOP/s':>15s}" for m in modes))
    rates = {m: {} for m in modes}
    for name, shape in shapes.items():
        row = f"{name:44s}"
        for m in modes:
            rates[m][name] = gemm_rate(shape, m, device, min_seconds)
            row += f"{rates[m][name]:15.4g}"
        print(row)
    peak = {m: max(r.values()) for m, r in rates.items()}
    print(f"{'roofline (best of the shapes above)':44s}" + "".join(f"{peak[m]:15.4g}" for m in modes))
    return {"shapes": {k: list(v) for k, v in shapes.items()}, "tflops": rates, "roofline_tflops": peak}


# -- steps ---------------------------------------------------------------------------------
def count_flops(fn) -> tuple[int, dict]:
    with FlopCounterMode(display=False) as counter:
        fn()
    per_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    return int(counter.get_total_flops()), per_op


def steps_section(kinds, resolved, device, modes, repeats, peak_rates) -> list[dict]:
    mem = "peak MiB" if device.type == "cuda" else "RSS+ MiB"
    print(f"{'step kind':13s} {'prec':5s} {'sizes':34s} {'ms/step':>9s} {'img/s':>8s} {mem:>9s} "
          f"{'GFLOP/step':>11s} {'TFLOP/s':>8s} {'roofline':>9s}")
    rows = []
    for name in kinds:
        kind = STEP_KINDS[name]
        for mode in modes:
            with precision_mode(mode):
                built = kind.build(resolved, device, dtype_of(mode))
                flops, per_op = count_flops(built.step)
                seconds, peak = time_and_peak(built.step, device, repeats, cpu_delta=True)
            achieved = flops / seconds / 1e12
            frac = achieved / peak_rates[mode] if peak_rates.get(mode) else float("nan")
            rows.append({"kind": name, "precision": mode, "sizes": size_note(name, resolved),
                         "ms_per_step": seconds * 1e3, "images_per_s": built.images / seconds,
                         "peak_mib": peak, "flops_per_step": flops, "flops_by_op": per_op,
                         "achieved_tflops": achieved, "roofline_fraction": frac})
            print(f"{name:13s} {mode:5s} {size_note(name, resolved):34s} {seconds * 1e3:9.2f} "
                  f"{built.images / seconds:8.1f} {peak:9.1f} {flops / 1e9:11.4g} {achieved:8.4g} {frac:9.1%}",
                  flush=True)
            del built
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


# -- host syncs ----------------------------------------------------------------------------
def host_sync_section(kinds, resolved) -> dict:
    """Each step kind once on the meta device under :class:`HostSyncAudit`."""
    out = {}
    for name in kinds:
        built = STEP_KINDS[name].build(resolved, torch.device("meta"), torch.float32)
        with HostSyncAudit() as audit:
            built.step()
        out[name] = {f"{what} at {where}": n for (what, where), n in sorted(audit.sites.items())}
        print(f"{name:13s} " + ("none" if not out[name] else "; ".join(f"{k} ×{v}" for k, v in out[name].items())))
    return out


# -- precision -----------------------------------------------------------------------------
def meta_gradient(kind, resolved, device, mode) -> torch.Tensor:
    with precision_mode(mode):
        built = kind.build(resolved, device, dtype_of(mode))
        grads = torch.autograd.grad(built.loss(), built.params)
    return torch.cat([g.flatten().double() for g in grads])


def precision_section(kinds, resolved, device) -> dict:
    modes = ["fp32"] + (["tf32"] if device.type == "cuda" else [])
    print(f"{'step kind':13s} {'sizes':34s}" + "".join(f"{m + ' vs fp64':>14s}" for m in modes) + f"{'seconds':>9s}")
    out = {}
    for name in kinds:
        kind = STEP_KINDS[name]
        if not kind.meta_gradient:
            continue
        t0 = time.perf_counter()
        ref = meta_gradient(kind, resolved, device, "fp64")
        rel = {m: float((meta_gradient(kind, resolved, device, m) - ref).norm() / ref.norm()) for m in modes}
        out[name] = rel
        print(f"{name:13s} {size_note(name, resolved):34s}" + "".join(f"{rel[m]:14.2e}" for m in modes)
              + f"{time.perf_counter() - t0:9.1f}", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if device.type != "cuda":
        print("TF32: not measured (no CUDA device; TF32 exists only in CUDA matmuls/convolutions)")
    return out


# -- FLOPs at the config's sizes and the GPU-hours estimate ------------------------------------
def config_flops(kinds, resolved: Resolved) -> dict:
    """FLOPs of one step and of the inference path per image at the sizes of ``resolved``,
    counted on the meta device."""
    out = {}
    for name in kinds:
        built = STEP_KINDS[name].build(resolved, torch.device("meta"), torch.float32)
        with HostSyncAudit():  # scalar reads (a logged loss) return a placeholder on meta
            step_flops, _ = count_flops(built.step)
            infer_flops = count_flops(built.infer)[0] / built.images if built.infer else 0.0
        out[name] = {"flops_per_step": step_flops, "infer_flops_per_image": infer_flops,
                     "images_per_step": built.images}
    return out


def curve_images(block: dict) -> int:
    """Images a training curve scores at each validation (``tuning_images``)."""
    return int(block["tuning_images"])


def estimate_rows(resolved: Resolved, flops: dict, measured_s: dict | None = None) -> list[dict]:
    """Per trained experiment of ``resolved`` (enabled, no ``model_from``): configured steps ×
    FLOPs/step, plus the training curve (``validate_every``, :func:`curve_images`) and evaluation
    on the validation split of it and of the experiments scored with its model (inference
    FLOPs per image); the DnCNN prior likewise from ``config.denoiser``."""
    n_val = int(resolved.config["data"]["n_val"])
    experiments = resolved.experiments
    trained = set(resolved.trained_ids("meta"))
    rows = []
    for name, f in flops.items():
        kind = STEP_KINDS[name]
        for eid in kind.config_experiments:
            if eid == "denoiser":
                d = denoiser_spec(resolved.config)
                steps = int(d["steps"])
                val = (steps // max(1, int(d["validate_every"]))) * curve_images(d)
                rows.append(dict(experiment="denoiser (DnCNN)", kind=name, steps=steps,
                                 train_flops=steps * f["flops_per_step"],
                                 eval_flops=(val + curve_images(d)) * f["infer_flops_per_image"],
                                 measured_train_s=(measured_s or {}).get(name, float("nan")) * steps))
                continue
            if eid not in trained:
                continue
            outer = experiments[eid]["outer"]
            steps, every = int(outer["steps"]), int(outer["validate_every"])
            validation = (steps // every) * curve_images(outer) if every else 0
            evaluated = 1 + sum(1 for s in experiments.values() if s.get("model_from") == eid)
            rows.append(dict(experiment=eid, kind=name, steps=steps,
                             train_flops=steps * f["flops_per_step"],
                             eval_flops=(validation + evaluated * n_val) * f["infer_flops_per_image"],
                             measured_train_s=(measured_s or {}).get(name, float("nan")) * steps))
    return rows


def classical_flops(resolved: Resolved, dncnn_flops_per_image: float) -> float:
    """DnCNN calls of the classical RED/HQS columns (grid search on held-out training images
    and the validation solve), counting every iteration up to ``max_steps`` (an upper bound)."""
    total = 0.0
    n_val = int(resolved.config["data"]["n_val"])
    for eid in resolved.ids_of("red", "hqs"):
        c = resolved.all[eid]["classical"]
        iters = int(c["max_steps"]) if c["tol"] else int(c["steps"])
        grid = math.prod(len(v) for v in c["tune"]["grid"].values()) if c["tune"]["grid"] else 1
        total += (grid * int(c["tune"]["images"]) + n_val) * iters * dncnn_flops_per_image
    return total


def flops_section(kinds, resolved: Resolved, config_names: str, assumed_fraction: float,
                  measured: dict | None, gpu_name: str | None) -> dict:
    flops = config_flops(kinds, resolved)
    print(f"{'step kind':13s} {'sizes':34s} {'GFLOP/step':>11s} {'GFLOP/image, inference':>23s}")
    for name, f in flops.items():
        print(f"{name:13s} {size_note(name, resolved):34s} {f['flops_per_step'] / 1e9:11.1f} "
              f"{f['infer_flops_per_image'] / 1e9:23.2f}")
    rows = estimate_rows(resolved, flops, measured)
    rates = {m: assumed_fraction * H100_SPEC_TFLOPS[m] * 1e12 for m in ("fp32", "tf32")}
    print(f"\nGPU-hours to run {config_names}, ESTIMATED FROM FLOPs (not measured): "
          f"assumed achieved rate = {assumed_fraction:.0%} of H100 SXM dense spec "
          f"(fp32 {H100_SPEC_TFLOPS['fp32']:.0f}, TF32 {H100_SPEC_TFLOPS['tf32']:.0f} TFLOP/s)")
    measured_col = measured is not None
    print(f"{'experiment':22s} {'kind':12s} {'steps':>7s} {'train PFLOP':>12s} {'eval PFLOP':>11s} "
          f"{'h @fp32':>8s} {'h @TF32':>8s}" + (f" {'h measured':>11s}" if measured_col else ""))
    total = {"fp32": 0.0, "tf32": 0.0, "measured": 0.0}
    for r in rows:
        fl = r["train_flops"] + r["eval_flops"]
        h = {m: fl / rates[m] / 3600 for m in rates}
        r.update(hours_fp32=h["fp32"], hours_tf32=h["tf32"])
        total["fp32"] += h["fp32"]
        total["tf32"] += h["tf32"]
        hm = r["measured_train_s"] / 3600
        total["measured"] += hm if math.isfinite(hm) else 0.0
        print(f"{r['experiment']:22s} {r['kind']:12s} {r['steps']:7d} {r['train_flops'] / 1e15:12.2f} "
              f"{r['eval_flops'] / 1e15:11.3f} {h['fp32']:8.3f} {h['tf32']:8.3f}"
              + (f" {hm:11.3f}" if measured_col else ""))
    dn = flops.get("dncnn_train", {}).get("infer_flops_per_image", 0.0)
    cl = classical_flops(resolved, dn)
    h_cl = {m: cl / rates[m] / 3600 for m in rates}
    total["fp32"] += h_cl["fp32"]
    total["tf32"] += h_cl["tf32"]
    print(f"{'classical RED/HQS':22s} {'dncnn calls':12s} {'':7s} {0.0:12.2f} {cl / 1e15:11.3f} "
          f"{h_cl['fp32']:8.3f} {h_cl['tf32']:8.3f}" + (f" {'':>11s}" if measured_col else ""))
    print(f"{'total':22s} {'':12s} {'':7s} {'':12s} {'':11s} {total['fp32']:8.2f} {total['tf32']:8.2f}"
          + (f" {total['measured']:11.2f}" if measured_col else ""))
    if measured_col:
        print(f"'h measured': configured steps × the step time measured above on {gpu_name} in fp32 "
              "(training only, no evaluation)")
    return {"step_flops": flops, "assumed_fraction": assumed_fraction, "rows": rows,
            "classical_flops": cl, "total_hours": total}


# -- end-to-end workflow -----------------------------------------------------------------------
def workflow_copy(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    for folder in ("workflow", "config"):
        shutil.copytree(REPO / folder, dest / folder, dirs_exist_ok=True)
    return dest


def workflow_env(bin_dir: Path) -> dict:
    """PATH with this interpreter first and a ``metainv`` command (a shim running
    ``python -m metainv`` from this checkout's src/ when none is installed)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    paths = [str(Path(sys.executable).parent)]
    if shutil.which("metainv", path=paths[0]) is None:
        bin_dir.mkdir(parents=True, exist_ok=True)
        shim = bin_dir / "metainv"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m metainv "$@"\n')
        shim.chmod(0o755)
        paths.insert(0, str(bin_dir))
    env["PATH"] = os.pathsep.join(paths + [env.get("PATH", "")])
    return env


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):  # Snakemake writes NA where it could not measure
        return float("nan")


def smoke_section(mode: str, workdir: Path | None, timeout: float, cores: str,
                  configs: list[Path] | None = None) -> dict:
    """Run (or plan) the workflow with ``configs`` (default config/gpu-smoke.yaml) merged over
    the paper config, in a copy of Snakefile, workflow/ and config/; a temporary copy made for a
    plan is removed afterwards."""
    temporary = workdir is None and mode == "plan"
    work = workflow_copy(workdir or Path(tempfile.mkdtemp(prefix="metainv-smoke-")))
    names = []
    for c in configs or [REPO / "config" / "gpu-smoke.yaml"]:
        c = Path(c) if Path(c).is_absolute() else REPO / c
        shutil.copy2(c, work / "config" / c.name)
        names.append(f"config/{c.name}")
    env = workflow_env(work / ".bin")
    args = [sys.executable, "-m", "snakemake", "--cores", cores, "--rerun-incomplete", "--configfile", *names]
    if mode == "plan":
        args.insert(3, "-n")
    locks = work / ".snakemake" / "locks"
    if mode == "run" and locks.is_dir() and any(locks.iterdir()):  # left by a run stopped at its limit
        subprocess.run([*args, "--unlock"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    print(f"workdir: {work}\ncommand: {' '.join(args[1:])}", flush=True)
    t0 = time.perf_counter()
    # own process group: at the time limit Snakemake *and its running jobs* are stopped
    proc = subprocess.Popen(args, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        rc = 124
        print(f"stopped at the time limit ({timeout:.0f} s, --smoke-timeout)")
    wall = time.perf_counter() - t0
    if temporary:
        shutil.rmtree(work, ignore_errors=True)
    jobs = {}
    lines = out.splitlines()
    if "Job stats:" in out:
        start = lines.index("Job stats:") + 3
        for line in lines[start:]:
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                break
            jobs[parts[0]] = int(parts[1])
    print(f"mode: {mode}   exit: {rc}   wall: {wall:.1f} s   jobs: {sum(v for k, v in jobs.items() if k != 'total')}")
    print("jobs per rule: " + ", ".join(f"{k} {v}" for k, v in jobs.items() if k != "total"))
    result = {"mode": mode, "returncode": rc, "wall_s": wall, "jobs": jobs, "workdir": str(work)}
    if rc != 0:
        print("--- snakemake output (tail) ---\n" + out[-4000:])
        result["tail"] = out[-4000:]
    if mode == "run":  # the jobs that finished, also after a failure or the time limit
        import csv

        bench = []
        for tsv in sorted((work / "logs").rglob("*.benchmark.tsv")):
            with open(tsv) as f:
                row = next(csv.DictReader(f, delimiter="\t"))
            bench.append((str(tsv.relative_to(work / "logs")).replace(".benchmark.tsv", ""),
                          _number(row.get("s")), _number(row.get("max_rss"))))
        print(f"{'rule job (logs/…benchmark.tsv)':58s} {'s':>8s} {'max RSS MB':>11s}")
        for name, s, rss in sorted(bench, key=lambda b: -b[1]):
            print(f"{name:58s} {s:8.1f} {rss:11.0f}")
        result["benchmarks"] = bench
        for table in sorted((work / "results" / "tables").glob("table*.md")):
            print(f"--- {table.relative_to(work)} ---\n{table.read_text().strip()}")
    return result


# -- main ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    parser.add_argument("--config", type=Path, action="append", default=None, metavar="FILE",
                        help="config file(s) merged in order whose sizes are timed and whose GPU-hours "
                             "are estimated (default: config/config.yaml, the paper's; its steps are timed "
                             "at benchmarks/tiny.yaml sizes on a CPU)")
    parser.add_argument("--tiny", action="store_true",
                        help="CPU, the steps timed with benchmarks/tiny.yaml merged over --config, few "
                             "repeats, smoke run only planned (what the tests run)")
    parser.add_argument("--kinds", nargs="+", default=None, help=f"step kinds (default all: {', '.join(STEP_KINDS)})")
    parser.add_argument("--precisions", nargs="+", default=None, choices=("fp32", "tf32", "bf16"),
                        help="precisions of the timed steps (default: fp32 tf32 on CUDA, fp32 on CPU)")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per kind (default 10; tiny 2)")
    parser.add_argument("--gemm-seconds", type=float, default=None, help="timing per GEMM shape (default 1; tiny 0.05)")
    parser.add_argument("--smoke", choices=("run", "plan", "skip"), default=None,
                        help="end-to-end workflow: run it, plan it (-n) or skip (default: run on CUDA, else plan)")
    parser.add_argument("--smoke-dir", type=Path, default=None, help="workflow copy for the smoke run (default: a temp dir)")
    parser.add_argument("--smoke-timeout", type=float, default=330.0,
                        help="seconds the end-to-end run may take (keeps the whole check within 8 minutes)")
    parser.add_argument("--smoke-cores", default="all")
    parser.add_argument("--smoke-configs", nargs="+", type=Path, default=None,
                        help="config files merged over config/config.yaml (default config/gpu-smoke.yaml)")
    parser.add_argument("--assumed-fraction", type=float, default=0.5,
                        help="achieved fraction of the H100 spec assumed by the FLOP-based estimate")
    parser.add_argument("--no-flops", "--no-paper-flops", dest="no_flops", action="store_true",
                        help="skip the FLOP count and GPU-hours estimate of --config")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's; tiny 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write every number to this JSON file")
    args = parser.parse_args(argv)

    if args.tiny:
        args.device = "cpu" if args.device == "auto" else args.device
    if args.threads or args.tiny:
        torch.set_num_threads(args.threads or 1)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    cuda = device.type == "cuda"
    configs = args.config or [PAPER_CONFIG]
    # tiny step sizes with --tiny, and on a CPU unless a config was named
    tiny_sizes = args.tiny or (not cuda and args.config is None)
    timed_configs = configs + ([TINY_CONFIG] if tiny_sizes else [])
    estimated = resolved_config(configs)
    timed = resolved_config(timed_configs) if tiny_sizes else estimated
    names = " + ".join(Path(c).name for c in timed_configs)
    kinds = args.kinds or list(STEP_KINDS)
    unknown = set(kinds) - set(STEP_KINDS)
    if unknown:
        parser.error(f"unknown step kinds {sorted(unknown)}; registered: {list(STEP_KINDS)}")
    modes = args.precisions or (["fp32", "tf32"] if cuda else ["fp32"])
    repeats = args.repeats or (2 if args.tiny or not cuda else 10)
    gemm_seconds = args.gemm_seconds or (0.05 if args.tiny else 1.0)
    smoke = args.smoke or ("plan" if args.tiny or not cuda else "run")
    t_start = time.perf_counter()
    result: dict = {"configs": [str(c) for c in timed_configs], "argv": sys.argv[1:] if argv is None else argv}
    print(f"metainv device check: device {device}, sizes of {names}, precisions {' '.join(modes)}, "
          f"repeats {repeats}, smoke {smoke}")

    header("machine")
    result["machine"] = machine(device)
    header("roofline")
    gemm_modes = ["fp32"] + (["tf32"] if cuda else []) + ["bf16"]
    result["roofline"] = roofline(device, timed, gemm_modes, gemm_seconds)
    peaks = result["roofline"]["roofline_tflops"]
    header("steps")
    result["steps"] = steps_section(kinds, timed, device, modes, repeats, peaks)
    header("host syncs")
    result["host_syncs"] = host_sync_section(kinds, timed)
    header("precision")
    result["precision"] = precision_section(kinds, timed, device)
    header("flops")
    if args.no_flops:
        print("skipped (--no-flops)")
    else:
        measured = None
        if cuda and not tiny_sizes:  # the steps above ran at the estimated config's sizes
            measured = {r["kind"]: r["ms_per_step"] / 1e3 for r in result["steps"] if r["precision"] == "fp32"}
        result["flops"] = flops_section(kinds, estimated, " + ".join(Path(c).name for c in configs),
                                        args.assumed_fraction, measured, result["machine"].get("gpu"))
    header("smoke")
    if smoke == "skip":
        print("skipped (--smoke skip)")
        result["smoke"] = {"mode": "skip"}
    else:
        result["smoke"] = smoke_section(smoke, args.smoke_dir, args.smoke_timeout, args.smoke_cores,
                                       args.smoke_configs)
    result["total_s"] = time.perf_counter() - t_start
    print(f"\ndevice check done in {result['total_s']:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    out = main()
    smoke = out.get("smoke", {})
    sys.exit(1 if smoke.get("returncode", 0) != 0 else 0)
