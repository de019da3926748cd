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

    with pytest.raises(NonFiniteLossError) as err:
        trainer.run(step_fn)
    msg = str(err.value)
    assert "non-finite loss (nan) at step 5 of 10" in msg
    # says what exists and what a rerun does; never advises "lower the rate and resume",
    # because a changed rate changes the fingerprint and the checkpoint is set aside
    assert "checkpoint.pt (step 3, finite) is kept" in msg
    assert "resumes from step 3" in msg and "checkpoint.stale" in msg and "starts over from step 0" in msg
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 3


def test_non_finite_loss_at_the_first_step_mentions_no_checkpoint(tmp_path):
    _, trainer, _ = make(tmp_path, total=10)
    with pytest.raises(NonFiniteLossError) as err:
        trainer.run(lambda step: {"loss": float("inf")})
    msg = str(err.value)
    assert "at step 1 of 10" in msg and "No checkpoint was written" in msg
    assert "kept" not in msg.replace("nothing is kept", "") and "resume" not in msg
    assert not (tmp_path / "checkpoint.pt").exists()


def test_overflowing_learning_rate_gives_the_same_clear_error(tmp_path):
    # Adam with lr=1e39 raises torch's raw "value cannot be converted ... without overflow"
    _, trainer, step_fn = make(tmp_path, total=10, lr=1e39)
    with pytest.raises(NonFiniteLossError) as err:
        trainer.run(step_fn)
    msg = str(err.value)
    assert "update overflowed" in msg and "at step 1 of 10" in msg and "No checkpoint" in msg
    assert isinstance(err.value.__cause__, RuntimeError)


def test_other_runtime_errors_pass_through(tmp_path):
    _, trainer, _ = make(tmp_path, total=3)

    def step_fn(step):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch") as err:
        trainer.run(step_fn)
    assert not isinstance(err.value, NonFiniteLossError)


def test_checkpoint_of_another_configuration_is_not_resumed(tmp_path):
    _, trainer, step_fn = make(tmp_path, total=6, lr=0.05)
    trainer.run(step_fn)
    _, other, other_step = make(tmp_path, total=6, lr=0.01)
    other.run(other_step)
    assert other.resumed_from is None
    assert (tmp_path / "checkpoint.stale").exists()


def _peaked_validation(model, peak_step):
    """A validation score that is highest at ``peak_step`` (and records the weights seen)."""
    seen = {}

    def validate_fn(step):
        seen[step] = model.weight.detach().clone()
        return {"tuning_psnr": 30.0 - abs(step - peak_step)}

    return validate_fn, seen


def test_keep_best_restores_the_weights_of_the_best_validated_step(tmp_path):
    model, trainer, step_fn = make(tmp_path / "best", total=12)
    trainer.keep_best = "tuning_psnr"
    validate_fn, seen = _peaked_validation(model, peak_step=6)
    trainer.run(step_fn, validate_fn, validate_every=3)
    assert sorted(seen) == [3, 6, 9, 12] and trainer.selected_step == 6
    assert torch.equal(model.weight, seen[6]) and not torch.equal(seen[6], seen[12])
    # without keep_best the last step's weights stay
    last, trainer_last, step_last = make(tmp_path / "last", total=12)
    validate_last, seen_last = _peaked_validation(last, peak_step=6)
    trainer_last.run(step_last, validate_last, validate_every=3)
    assert trainer_last.selected_step == 12 and torch.equal(last.weight, seen_last[12])


def test_keep_best_survives_a_crash_and_resume(tmp_path):
    model, trainer, step_fn = make(tmp_path, total=12, crash_at=10)
    trainer.keep_best = "tuning_psnr"
    validate_fn, seen = _peaked_validation(model, peak_step=3)
    with pytest.raises(Crash):
        trainer.run(step_fn, validate_fn, validate_every=3)
    model2, trainer2, step_fn2 = make(tmp_path, total=12)
    trainer2.keep_best = "tuning_psnr"
    validate_fn2, _ = _peaked_validation(model2, peak_step=3)
    trainer2.run(step_fn2, validate_fn2, validate_every=3)
    assert trainer2.resumed_from == 9 and trainer2.selected_step == 3
    assert torch.equal(model2.weight, seen[3])


class _CreatesAFile:
    """Unpickling this calls open(path, "w"): a stand-in for any code a pickle can run."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_tampered_checkpoint_is_refused_and_runs_nothing(tmp_path):
    """A checkpoint.pt whose unpickling would create a file: the resume refuses it naming the
    file (never moved aside as merely corrupt), nothing in it runs, and it stays for inspection."""
    from metainv.errors import MetainvError
    from metainv.train import UnsafeFileError

    _, trainer, step_fn = make(tmp_path, total=3)
    trainer.run(step_fn)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    witness = tmp_path / "created_by_unpickling"
    torch.save({**state, "rows": [*state["rows"], _CreatesAFile(witness)]}, tmp_path / "checkpoint.pt")
    _, trainer2, step_fn2 = make(tmp_path, total=6)
    with pytest.raises(UnsafeFileError, match="checkpoint.pt") as info:
        trainer2.run(step_fn2)
    assert isinstance(info.value, MetainvError)
    assert not witness.exists()
    assert (tmp_path / "checkpoint.pt").exists() and not (tmp_path / "checkpoint.corrupt").exists()


def test_a_truncated_checkpoint_is_still_set_aside(tmp_path):
    _, trainer, step_fn = make(tmp_path, total=3)
    trainer.run(step_fn)
    data = (tmp_path / "checkpoint.pt").read_bytes()
    (tmp_path / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    _, trainer2, step_fn2 = make(tmp_path, total=3)
    trainer2.run(step_fn2)
    assert trainer2.resumed_from is None and (tmp_path / "checkpoint.corrupt").exists()
