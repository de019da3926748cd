"""UNet baseline: input convention, shapes at the paper's sizes, and that it learns."""

import numpy as np
import torch

from metainv.metrics import psnr_torch
from metainv.nets.unet import InpaintingUNet, unet_input
from metainv.physics import Blur, Mask, build_operator, center_mask, gaussian_kernel
from metainv.train import Trainer, make_supervised_step


def test_input_is_zero_filled_measurement_and_mask():
    x = torch.rand(2, 3, 8, 8)
    op = Mask(center_mask(8, 8))
    z, m = unet_input(op.measure(x), op)
    assert m.shape == (2, 1, 8, 8) and torch.equal(m[0, 0], center_mask(8, 8)[0, 0])
    torch.testing.assert_close(z, x * m)
    # an operator without a mask: all-ones mask channel
    blur = Blur(gaussian_kernel(3, 0.5), 8, 8)
    z, m = unet_input(blur(x), blur)
    assert torch.equal(m, torch.ones(2, 1, 8, 8))


def test_shapes_at_paper_sizes_and_mask_changes_output():
    torch.manual_seed(0)
    net = InpaintingUNet(channels_per_scale=(8, 16, 32, 64)).eval()
    for size in (32, 128):
        x = torch.rand(2, 3, size, size)
        op = build_operator({"kind": "inpaint_random", "observed_range": [10, 1000]}, 2, size, size,
                            torch.Generator().manual_seed(0), observed=100)
        out = net(op.measure(x), op)
        assert out.shape == x.shape and torch.isfinite(out).all()
    # the mask channel is an input: a zero pixel observed as zero and a missing pixel give
    # the same zero-filled image, and different outputs
    y = torch.rand(1, 3, 32, 32)
    y[..., 8:16, 8:16] = 0
    observed = torch.ones(1, 1, 32, 32)
    missing = observed.clone()
    missing[..., 8:16, 8:16] = 0
    assert torch.equal(Mask(observed).adjoint(y), Mask(missing).adjoint(y))
    net.train()  # BatchNorm on batch statistics: untrained running statistics silence the decoder
    assert (net(y, Mask(observed)) - net(y, Mask(missing))).abs().max() > 1e-4
    # hparams rebuild the same architecture
    assert InpaintingUNet(**net.hparams()).state_dict().keys() == net.state_dict().keys()


def smooth_faces(n, size, seed):
    """Smooth random colour images (bilinear upsampling of 4×4 noise), uint8 N×H×W×C."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 4, 4, generator=gen)
    x = torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear", align_corners=False)
    return (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


def test_unet_learns_centre_inpainting_and_beats_its_input(tmp_path):
    """Trained 60 Adam steps on smooth 16² images, the training loss falls by > 3× and on
    held-out images of the same kind the UNet beats the zero-filled input by > 3 dB."""
    torch.manual_seed(0)
    train, held = smooth_faces(64, 16, 0), smooth_faces(16, 16, 1)
    net = InpaintingUNet(channels_per_scale=(8, 16))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    op = Mask(center_mask(16, 16))

    def measure(x, generator):
        return op, op.measure(x, generator)

    trainer = Trainer({"unet": net}, {"adam": opt}, 60, tmp_path / "checkpoint.pt", tmp_path / "log.csv",
                      seed=0, progress=False)
    step = make_supervised_step(net, opt, train, trainer.generator, measure, batch_size=8, loss="l2")
    rows = trainer.run(step)
    first, last = np.mean([r["loss"] for r in rows[:5]]), np.mean([r["loss"] for r in rows[-5:]])
    assert last < first / 3, (first, last)
    x = torch.from_numpy(held).permute(0, 3, 1, 2).float() / 255
    y = op.measure(x)
    net.eval()
    with torch.no_grad():
        gain = psnr_torch(net(y, op).clamp(0, 1), x) - psnr_torch(y, x)
    assert float(gain.mean()) > 3, gain


def test_start_at_input_returns_the_input_image_until_trained():
    """start_at_input: x̂ = A⁺y before training (the default's random residual is not), and the
    zeroed output layer still learns (its gradient is not zero)."""
    torch.manual_seed(0)
    op = build_operator({"kind": "super_resolution"}, 2, 16, 16)
    x = torch.rand(2, 3, 16, 16)
    y = op.measure(x)
    net = InpaintingUNet(channels_per_scale=(4, 8), start_at_input=True)
    torch.testing.assert_close(net(y, op), op.input_image(y))
    assert not torch.allclose(InpaintingUNet(channels_per_scale=(4, 8))(y, op), op.input_image(y))
    (net(y, op) - x).pow(2).mean().backward()
    assert float(net.net.Conv_1x1.weight.grad.abs().sum()) > 0
