"""Tiny GTSA/DINO models, batches and a host-sync guard for step tests."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

DEMOS = dict(gtsa='configs/gtsa_vit-tiny_demo.py',
             dino='configs/dino_vit-tiny_demo.py')


def tiny_model(repo_root: str, algo: str, seed: int = 0):
    """The demo model with one transformer layer (and 128 prototypes)."""
    cfg = Config.fromfile(f'{repo_root}/{DEMOS[algo]}')
    cfg.model.backbone.arch.num_layers = 1
    if algo == 'dino':
        cfg.model.neck.out_channels = cfg.model.head.out_channels = 128
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model, cfg


def tiny_optim(model, cfg, fused: bool = False):
    """The config's optimiser wrapper (per-parameter clipping, AdamW)."""
    wrapper = cfg.optim_wrapper.copy()
    wrapper.optimizer = dict(wrapper.optimizer)
    if fused:
        wrapper.optimizer['fused'] = True
    return build_optim_wrapper(model, wrapper)


def tiny_batch(b: int = 2, seed: int = 0, num_local: int = 2):
    """uint8 views (2 x 32 px + ``num_local`` x 16 px) and DataSamples with
    overlapping crop boxes and rotations."""
    g = torch.Generator().manual_seed(seed)
    n = 2 + num_local
    views = [torch.randint(0, 256, (b, 3, 32, 32), generator=g,
                           dtype=torch.uint8) for _ in range(2)]
    views += [torch.randint(0, 256, (b, 3, 16, 16), generator=g,
                            dtype=torch.uint8) for _ in range(num_local)]
    samples = []
    for _ in range(b):
        ds = DataSample()
        xy = torch.randint(0, 40, (n, 2), generator=g).float()
        ds.crop_boxes = torch.cat([xy, xy + 60], 1)
        ds.crop_rotations = torch.randint(0, 4, (n, ), generator=g)
        samples.append(ds)
    return dict(inputs=views, data_samples=samples)


_CONVERSIONS = ('item', 'tolist', '__float__', '__int__', '__bool__',
                '__index__')


@contextmanager
def no_host_sync():
    """Make every tensor-to-host conversion raise while inside: on a GPU
    each of them (``.item()``, ``float(t)``, ``if t:``, ...) waits for the
    device."""
    saved = {name: getattr(torch.Tensor, name) for name in _CONVERSIONS}

    def forbid(name):
        def raiser(self, *args, **kwargs):
            raise AssertionError(f'host sync in the step: Tensor.{name}')
        return raiser

    try:
        for name in _CONVERSIONS:
            setattr(torch.Tensor, name, forbid(name))
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.Tensor, name, fn)
