"""The shared training loop: resume equals uninterrupted, NaN stops, stale checkpoints ignored."""

import pandas as pd
import pytest
import torch

from metainv.train import NonFiniteLossError, Trainer


class Crash(Exception):
    pass


def make(tmp_path, total=12, crash_at=None, lr=0.05, config=None):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    with torch.no_grad():
        model.weight.fill_(0.1)
        model.bias.zero_()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    trainer = Trainer({"model": model}, {"opt": opt}, total, tmp_path / "checkpoint.pt",
                      tmp_path / "log.csv", seed=7, config=config or {"lr": lr}, checkpoint_every=3,
                      progress=False)

    def step_fn(step):
        if crash_at is not None and step == crash_at:
            raise Crash()
        x = torch.randn(8, 4, generator=trainer.generator)
        loss = (model(x).squeeze(1) - x.sum(1)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    return model, trainer, step_fn


def test_resume_after_crash_equals_uninterrupted(tmp_path):
    ref_model, ref_trainer, ref_step = make(tmp_path / "ref")
    ref_trainer.run(ref_step)

    model, trainer, step_fn = make(tmp_path / "run", crash_at=7)
    with pytest.raises(Crash):
        trainer.run(step_fn)
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["step"] == 6
    model2, trainer2, step_fn2 = make(tmp_path / "run")
    trainer2.run(step_fn2)
    assert trainer2.resumed_from == 6
    assert torch.equal(model2.weight, ref_model.weight) and torch.equal(model2.bias, ref_model.bias)
    log, ref_log = pd.read_csv(tmp_path / "run" / "log.csv"), pd.read_csv(tmp_path / "ref" / "log.csv")
    assert log.step.tolist() == list(range(1, 13))
    assert log.loss.tolist() == ref_log.loss.tolist()


def test_non_finite_loss_stops_with_message_and_keeps_checkpoint(tmp_path):
    model, trainer, _ = make(tmp_path, total=10)

    def step_fn(step):
        return {"loss": float("nan") if step == 4 else 1.0}

    with pytest.raises(NonFiniteLossError, match="non-finite loss .* at step 4"):
        trainer.run(step_fn)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 3


def test_checkpoint_of_another_configuration_is_not_resumed(tmp_path):
    _, trainer, step_fn = make(tmp_path, total=6, lr=0.05)
    trainer.run(step_fn)
    _, other, other_step = make(tmp_path, total=6, lr=0.01)
    other.run(other_step)
    assert other.resumed_from is None
    assert (tmp_path / "checkpoint.stale").exists()
