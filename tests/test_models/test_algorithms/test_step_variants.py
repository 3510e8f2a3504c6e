"""The benchmark's architecture floor, bf16 autocast and compiled steps of
GTSA and DINO against their plain training step."""
import pytest
import tiny_ssl
import torch
from mmengine.logging import MessageHub

from gtsa_plugin.utils.benchmark.setup import arch_floor_loss


@pytest.fixture
def steady_hub():
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 10)
    hub.update_info('epoch', 20)  # past the pc warm-up / last-layer freeze
    yield hub
    hub.update_info('epoch', 0)


def _grad_names(model):
    return {n for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('algo', ['gtsa', 'dino'])
def test_arch_floor_trains_the_same_parameters(repo_root, algo, steady_hub):
    model, _ = tiny_ssl.tiny_model(repo_root, algo)
    data = model.data_preprocessor(tiny_ssl.tiny_batch(), True)
    losses = model._run_forward(data, mode='loss')
    model.parse_losses(losses)[0].backward()
    full = _grad_names(model)
    model.zero_grad(set_to_none=True)
    arch_floor_loss(model, data['inputs']).backward()
    floor = _grad_names(model)
    assert full == floor
    assert any(n.startswith('neck.') for n in floor)
    if algo == 'gtsa':
        assert any(n.startswith('head.predictor') for n in floor)
        assert any(n.startswith('rot_head.') for n in floor)
    assert not any(n.startswith('target_net.') for n in floor)


@pytest.mark.parametrize('algo', ['gtsa', 'dino'])
def test_bf16_autocast_step(repo_root, algo, steady_hub):
    # mmengine's AmpOptimWrapper(dtype='bfloat16') autocasts on CUDA only;
    # on CPU the same autocast, around the forward and losses.
    model, cfg = tiny_ssl.tiny_model(repo_root, algo)
    wrapper = tiny_ssl.tiny_optim(model, cfg)
    data = model.data_preprocessor(tiny_ssl.tiny_batch(), True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model._run_forward(data, mode='loss')
        out = model.student_group(data['inputs'][0])
        if algo == 'gtsa':
            out = out[1]  # predictor maps
        else:
            out = model.neck((out, ))[-1]  # prototypes
    assert out.dtype == torch.bfloat16  # autocast was on
    loss, log_vars = model.parse_losses(losses)
    assert loss.dtype == torch.float32  # the losses ran in float32
    assert all(torch.isfinite(v) for v in log_vars.values())
    wrapper.update_params(loss)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def _run_steps(model, wrapper, data, steps):
    return [{k: v.detach().clone() for k, v in
             model.train_step(data, wrapper).items()} for _ in range(steps)]


@pytest.mark.slow
def test_compiled_train_step_matches_eager(repo_root, steady_hub,
                                           backend='inductor'):
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    counters.clear()
    data = tiny_ssl.tiny_batch()
    model, cfg = tiny_ssl.tiny_model(repo_root, 'gtsa')
    eager = _run_steps(model, tiny_ssl.tiny_optim(model, cfg), data, 2)

    model, cfg = tiny_ssl.tiny_model(repo_root, 'gtsa')
    wrapper = tiny_ssl.tiny_optim(model, cfg)
    # What mmengine's Runner does with cfg.compile = dict(backend=...):
    model.train_step = torch.compile(model.train_step, backend=backend)
    compiled = _run_steps(model, wrapper, data, 2)
    assert model.compile_parts  # switched on by the traced train_step
    graphs = counters['stats']['unique_graphs']
    _run_steps(model, wrapper, data, 1)
    # One graph per crop size for the student, one for the teacher, one
    # for the losses; none added once warm.
    assert graphs == counters['stats']['unique_graphs'] == 4
    for e, c in zip(eager, compiled):
        assert set(e) == set(c)
        for key in e:
            torch.testing.assert_close(c[key], e[key], rtol=1e-5, atol=1e-5)
    # The parameters keep their names (no _orig_mod.): checkpoints as eager.
    assert all('_orig_mod' not in k for k in model.state_dict())
