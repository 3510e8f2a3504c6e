"""A training step of GTSA and DINO never waits for the device."""
import pytest
import tiny_ssl
import torch
from mmengine.logging import MessageHub


@pytest.mark.parametrize('algo', ['gtsa', 'dino'])
def test_train_step_has_no_host_sync(repo_root, algo):
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 10)
    hub.update_info('epoch', 20)  # past the pc warm-up / last-layer freeze
    model, cfg = tiny_ssl.tiny_model(repo_root, algo)
    # Fused AdamW: the plain CPU AdamW reads its (host) step counter with
    # .item(), which the guard cannot tell from a device sync.
    wrapper = tiny_ssl.tiny_optim(model, cfg, fused=True)
    data = tiny_ssl.tiny_batch()
    model.train_step(data, wrapper)  # first step: EMA copy, lazy state
    steps = model.target_net.steps.clone()
    try:
        with tiny_ssl.no_host_sync():
            log_vars = model.train_step(data, wrapper)
    finally:
        hub.update_info('epoch', 0)
    assert torch.equal(model.target_net.steps, steps + 1)
    assert 'grad_norm' in log_vars and log_vars['grad_norm'].ndim == 0
    assert all(torch.isfinite(v) for v in log_vars.values())
    with pytest.raises(AssertionError, match='host sync'):
        with tiny_ssl.no_host_sync():
            float(log_vars['loss'])
