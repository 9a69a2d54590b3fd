"""Mixed precision and compilation in fit: the forward pass runs in the chosen dtype, the weights,
the loss and the samples stay float32, fp16 goes through a gradient scaler, compile wraps both copies."""

import pytest
import torch

from scoregen import build
from scoregen.errors import ConfigError

X = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))


def _small():
    return build("ncsn", kernel={"n_levels": 3}, sampler={"n_steps_each": 2}, estimator={"hidden": [16, 16]})


@pytest.mark.parametrize(("precision", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_the_forward_pass_runs_in_the_chosen_precision(precision, dtype):
    model = _small()
    model.prepare(model.convert(X))
    seen = []
    model.estimator.net[0].register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    model.fit(X, steps=3, batch_size=16, progress=False, log_every=1, precision=precision)
    assert set(seen) == {dtype}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in model.history)
    assert model.sample(4, seed=0).dtype == torch.float32


def test_bf16_training_follows_fp32_closely():
    """Same seed, same draws: bf16 only rounds the network's products, so the first losses agree
    to bf16's resolution (8 bits of mantissa) and are not identical."""
    fp32 = _small().fit(X, steps=5, batch_size=32, progress=False, log_every=1)
    bf16 = _small().fit(X, steps=5, batch_size=32, progress=False, log_every=1, precision="bf16")
    a, b = (torch.tensor([h["loss"] for h in m.history]) for m in (fp32, bf16))
    torch.testing.assert_close(a, b, rtol=0.05, atol=0.0)
    assert not torch.equal(a, b)


def test_fp16_uses_a_gradient_scaler_and_resumes_it(tmp_path):
    model = _small().fit(X, steps=4, batch_size=16, progress=False, precision="fp16", out=tmp_path, checkpoint_every=2)
    again = _small().fit(X, steps=4, batch_size=16, progress=False, precision="fp16", out=tmp_path, checkpoint_every=2, resume=True)
    for p, q in zip(model.parameters(), again.parameters()):
        torch.testing.assert_close(p, q)
    import json

    trainer = json.loads(next((tmp_path / "checkpoints").glob("step-*/trainer.json")).read_text())
    assert trainer["grad_scaler"]["scale"] > 0


def test_an_unknown_precision_is_a_config_error():
    with pytest.raises(ConfigError, match="precision must be one of .fp32., .bf16., .fp16."):
        _small().fit(X, steps=1, progress=False, precision="fp8")


@pytest.mark.slow
def test_compile_wraps_the_trained_and_the_ema_copy():
    model = _small()
    plain = _small().fit(X, steps=3, batch_size=16, progress=False)
    model.fit(X, steps=3, batch_size=16, progress=False, compile=True)
    assert isinstance(model.sampling_estimator(), torch._dynamo.eval_frame.OptimizedModule)
    assert model.sampling_estimator()._orig_mod is model.ema.module
    for p, q in zip(model.parameters(), plain.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model.sample(8, seed=0), plain.sample(8, seed=0), rtol=1e-3, atol=1e-3)
