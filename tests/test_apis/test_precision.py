"""apply_precision / set_optim_wrapper_precision on the repo's real configs."""
import os.path as osp
import warnings

import pytest
import torch
from mmengine.optim import AmpOptimWrapper, build_optim_wrapper

from gtsa_plugin.apis.cli import load_config
from gtsa_plugin.apis.precision import (AMP_ONLY_KEYS,
                                        PrecisionFallbackWarning,
                                        PrecisionUnavailableError,
                                        amp_device_available, apply_precision,
                                        config_precision,
                                        set_optim_wrapper_precision)
from gtsa_plugin.engine.optimizers import PerParamClipOptimWrapper

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NO_GPU = pytest.mark.skipif(amp_device_available(),
                            reason='behaviour of machines without a GPU')


def _cfg(name):
    return load_config(osp.join(REPO, 'configs', name))


def _unchanged_keys(before, after):
    """The optimiser, clipping and constructor survive every switch."""
    for key in ('optimizer', 'clip_grad', 'constructor', 'paramwise_cfg'):
        assert after.get(key) == before.get(key), key


@pytest.mark.parametrize('name, asked', [
    ('gtsa_vit-s_coco.py', 'fp16'), ('dino_vit-s_ade20k.py', 'fp16'),
    ('gtsa_vit-tiny_demo.py', 'fp32'), ('dino_vit-tiny_demo.py', 'fp32'),
    ('downstream/mmdet/mask-rcnn_vit-s_fpn_1x_coco.py', 'fp32'),
])
def test_config_precision_reads_the_optim_wrapper(name, asked):
    assert config_precision(_cfg(name)) == asked


def test_fp32_drops_amp_keys_and_builds_on_cpu():
    cfg = _cfg('gtsa_vit-s_coco.py')
    before = cfg.optim_wrapper.to_dict()
    assert before['type'] == 'PerParamClipAmpOptimWrapper'
    assert before['loss_scale'] == 'dynamic'
    set_optim_wrapper_precision(cfg, 'fp32')
    after = cfg.optim_wrapper.to_dict()
    assert after['type'] == 'PerParamClipOptimWrapper'
    assert not set(AMP_ONLY_KEYS) & set(after)
    _unchanged_keys(before, after)
    # The plain wrapper takes what is left (it refused loss_scale before).
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert isinstance(wrapper, PerParamClipOptimWrapper)
    assert not isinstance(wrapper, AmpOptimWrapper)
    assert wrapper.clip_grad_kwargs['max_norm'] == 3.0


def test_fp16_and_bf16_from_a_fp32_config():
    cfg = _cfg('gtsa_vit-tiny_demo.py')
    before = cfg.optim_wrapper.to_dict()
    set_optim_wrapper_precision(cfg, 'bf16')
    bf16 = cfg.optim_wrapper.to_dict()
    assert bf16['type'] == 'PerParamClipAmpOptimWrapper'
    assert bf16['dtype'] == 'bfloat16' and bf16['loss_scale'] == 1.0
    assert config_precision(cfg) == 'bf16'
    _unchanged_keys(before, bf16)
    # bf16 -> fp16 needs loss scaling again.
    set_optim_wrapper_precision(cfg, 'fp16')
    fp16 = cfg.optim_wrapper.to_dict()
    assert fp16['type'] == 'PerParamClipAmpOptimWrapper'
    assert fp16['dtype'] == 'float16' and fp16['loss_scale'] == 'dynamic'
    assert config_precision(cfg) == 'fp16'
    set_optim_wrapper_precision(cfg, 'fp32')
    assert cfg.optim_wrapper.to_dict() == before


def test_fp16_keeps_the_configs_own_loss_scale():
    cfg = _cfg('gtsa_vit-s_coco.py')
    cfg.optim_wrapper.loss_scale = 512.0
    set_optim_wrapper_precision(cfg, 'fp16')
    assert cfg.optim_wrapper.loss_scale == 512.0
    assert cfg.optim_wrapper.dtype == 'float16'


def test_plain_optim_wrapper_of_a_downstream_config():
    cfg = _cfg('downstream/mmdet/mask-rcnn_vit-s_fpn_1x_coco.py')
    set_optim_wrapper_precision(cfg, 'fp16')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    set_optim_wrapper_precision(cfg, 'fp32')
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper


def test_errors_name_the_key_and_the_switch():
    cfg = _cfg('gtsa_vit-tiny_demo.py')
    cfg.optim_wrapper.type = 'MyCustomWrapper'
    with pytest.raises(KeyError, match=r"--precision fp16.*optim_wrapper"
                       r"\.type='MyCustomWrapper'"):
        set_optim_wrapper_precision(cfg, 'fp16')
    with pytest.raises(ValueError, match='--precision'):
        apply_precision(_cfg('gtsa_vit-tiny_demo.py'), 'fp8')


@NO_GPU
def test_cpu_fallback_warns_once_and_names_the_switch():
    cfg = _cfg('gtsa_vit-s_coco.py')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert apply_precision(cfg, None) == 'fp32'
    ours = [w for w in caught if w.category is PrecisionFallbackWarning]
    assert len(ours) == 1
    assert '--precision fp32' in str(ours[0].message)
    assert cfg.optim_wrapper.type == 'PerParamClipOptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper


@NO_GPU
@pytest.mark.parametrize('name, precision', [
    ('gtsa_vit-s_coco.py', 'fp32'), ('gtsa_vit-tiny_demo.py', 'fp32'),
    ('gtsa_vit-tiny_demo.py', None)])
def test_cpu_fp32_is_silent(name, precision):
    cfg = _cfg(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert apply_precision(cfg, precision) == 'fp32'
    assert not [w for w in caught if w.category is PrecisionFallbackWarning]
    assert cfg.optim_wrapper.type == 'PerParamClipOptimWrapper'


@NO_GPU
@pytest.mark.parametrize('precision, switch', [
    ('fp16', None), ('bf16', None), ('fp16', '--amp')])
def test_cpu_explicit_amp_fails_naming_the_switch(precision, switch):
    cfg = _cfg('gtsa_vit-tiny_demo.py')
    named = switch or f'--precision {precision}'
    with pytest.raises(PrecisionUnavailableError, match=named):
        apply_precision(cfg, precision, switch)
    assert cfg.optim_wrapper.type == 'PerParamClipOptimWrapper'


@pytest.mark.skipif(not amp_device_available(), reason='needs a GPU')
def test_gpu_keeps_the_configs_fp16():
    cfg = _cfg('gtsa_vit-s_coco.py')
    before = cfg.optim_wrapper.to_dict()
    assert apply_precision(cfg, None) == 'fp16'
    assert cfg.optim_wrapper.to_dict() == before
    assert apply_precision(cfg, 'bf16') == 'bf16'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
