"""DINONeck: MLP, L2-normalised bottleneck, weight-normalised prototypes."""
import copy

import pytest
import torch
import torch.nn as nn
from mmpretrain.models import CosineEMA
from mmpretrain.registry import MODELS


def _neck(**kwargs):
    cfg = dict(type='DINONeck', in_channels=12, hid_channels=16,
               bottleneck_channels=8, out_channels=32)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_structure_and_output_shape():
    neck = _neck()
    linears = [m for m in neck.mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == \
        [(12, 16), (16, 16), (16, 8)]
    assert sum(isinstance(m, nn.GELU) for m in neck.mlp) == 2
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for m in neck.modules())
    assert neck.last_layer.in_features == 8
    assert neck.last_layer.out_features == 32
    assert neck.last_layer.bias is None
    out = neck((torch.randn(5, 12), ))
    assert isinstance(out, tuple) and out[0].shape == (5, 32)


def test_last_layer_norm_is_fixed_to_one():
    torch.manual_seed(0)
    neck = _neck()
    g = neck.last_layer.parametrizations.weight.original0
    assert g.shape == (32, 1)
    assert torch.equal(g, torch.ones_like(g)) and not g.requires_grad
    # Unit prototypes and a unit bottleneck: logits are cosines.
    row_norms = neck.last_layer.weight.norm(dim=1)
    assert torch.allclose(row_norms, torch.ones(32), atol=1e-6)
    x = torch.randn(7, 12) * 100
    logits = neck((x, ))[0]
    assert logits.abs().max() <= 1 + 1e-5
    bottleneck = nn.functional.normalize(neck.mlp(x), dim=-1)
    assert torch.allclose(logits, bottleneck @ neck.last_layer.weight.t(),
                          atol=1e-6)

    # A training step changes the directions, never the norms.
    opt = torch.optim.SGD([p for p in neck.parameters() if p.requires_grad],
                          lr=10.0)
    neck((x, ))[0].pow(2).sum().backward()
    assert g.grad is None
    before = neck.last_layer.parametrizations.weight.original1.clone()
    opt.step()
    assert not torch.equal(
        before, neck.last_layer.parametrizations.weight.original1)
    assert torch.allclose(neck.last_layer.weight.norm(dim=1),
                          torch.ones(32), atol=1e-5)


def test_norm_trainable_without_norm_last_layer():
    neck = _neck(norm_last_layer=False)
    g = neck.last_layer.parametrizations.weight.original0
    assert torch.equal(g, torch.ones_like(g)) and g.requires_grad
    neck((torch.randn(3, 12), ))[0].sum().backward()
    assert g.grad is not None


def test_deepcopy_state_dict_and_ema():
    torch.manual_seed(0)
    neck = _neck()
    keys = set(neck.state_dict())
    assert {'last_layer.parametrizations.weight.original0',
            'last_layer.parametrizations.weight.original1'} <= keys
    clone = copy.deepcopy(neck)
    x = (torch.randn(4, 12), )
    assert torch.equal(clone(x)[0], neck(x)[0])
    fresh = _neck()
    fresh.load_state_dict(neck.state_dict())
    assert torch.equal(fresh(x)[0], neck(x)[0])
    # The teacher (an mmengine EMA copy) averages both tensors of the
    # reparametrised layer.
    ema = CosineEMA(neck)
    assert set(dict(ema.module.named_parameters())) == \
        {k for k, _ in neck.named_parameters()}
    assert torch.equal(ema(x)[0], neck(x)[0])


def test_rejects_feature_maps():
    with pytest.raises(ValueError, match='cls_token'):
        _neck()((torch.randn(2, 12, 3, 3), ))
    with pytest.raises(ValueError, match='num_layers'):
        _neck(num_layers=0)
