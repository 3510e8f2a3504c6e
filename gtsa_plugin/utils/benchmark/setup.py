"""What the benchmark times: config, model, floors, batch, steps."""
import copy

import numpy as np
import torch

PIPELINE_IMAGE_SIZE = (640, 480)  # (width, height), COCO-like


def load_cfg(path: str, cfg_options=None):
    from gtsa_plugin.apis.cli import load_config, register_toolkit
    cfg = load_config(path, cfg_options)
    register_toolkit(cfg)
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def find_multicrop_cfg(pipeline_cfg):
    for t in pipeline_cfg:
        if 'MultiCrop' in str(t.get('type', '')):
            return t
    raise ValueError('the config\'s train pipeline has no multi-crop '
                     'transform (GTSAMultiCrop / DINOMultiCrop)')


def build_multicrop(cfg):
    from mmpretrain.registry import TRANSFORMS
    pipeline = cfg.train_dataloader.dataset.pipeline
    return TRANSFORMS.build(copy.deepcopy(find_multicrop_cfg(pipeline)))


def optim_wrapper_cfg(cfg, amp: bool):
    """A copy of the config's optim wrapper, switched to its AMP twin
    (``amp``; the config's fp16/bf16 when it has one, else fp16) or to the
    fp32 one (:mod:`gtsa_plugin.apis.precision`)."""
    from mmengine.config import Config

    from gtsa_plugin.apis.precision import (config_precision,
                                            set_optim_wrapper_precision)
    one = Config(dict(optim_wrapper=copy.deepcopy(cfg.optim_wrapper)))
    asked = config_precision(one)
    precision = (asked if asked != 'fp32' else 'fp16') if amp else 'fp32'
    set_optim_wrapper_precision(one, precision,
                                '--amp' if amp else '--precision fp32')
    return one.optim_wrapper.to_dict()


def make_batch(transform, batch_size: int, device: torch.device, seed: int):
    """Random uint8 views of the transform's sizes, views major (as
    ``default_collate`` builds them), and DataSamples with the transform's
    own crop boxes (overlapping, for GTSA) and random rotations."""
    from mmpretrain.structures import DataSample
    rng = np.random.RandomState(seed)
    gen = torch.Generator().manual_seed(seed)
    sizes = [s for s, n in zip(transform.crop_sizes, transform.num_crops)
             for _ in range(n)]
    inputs = [
        torch.randint(0, 256, (batch_size, 3, s, s), dtype=torch.uint8,
                      generator=gen).to(device) for s in sizes
    ]
    width, height = PIPELINE_IMAGE_SIZE
    np_state = np.random.get_state()
    np.random.seed(seed)  # the transforms draw from numpy's global state
    samples = []
    try:
        for _ in range(batch_size):
            if hasattr(transform, 'sample_boxes'):
                boxes = transform.sample_boxes(height, width)
            else:
                boxes = np.array([
                    transform.sample_box(height, width, g)
                    for g in transform.crop_groups()
                ])
            sample = DataSample()
            sample.set_field(
                torch.as_tensor(boxes, dtype=torch.float32).to(device),
                'crop_boxes')
            sample.set_field(
                torch.as_tensor(rng.randint(0, 4, size=len(sizes)),
                                dtype=torch.long).to(device),
                'crop_rotations')
            samples.append(sample)
    finally:
        np.random.set_state(np_state)
    return dict(inputs=inputs, data_samples=samples), sizes


def setup_message_hub(cfg):
    """MessageHub state a Runner would provide: ``max_iters`` (CosineEMA),
    ``epoch`` past every warm-up (the steady-state step), ``iter``."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('gtsa_benchmark')
    model_cfg = cfg.model
    epoch = max(int(model_cfg.get('pc_warmup_epochs', 0)),
                int(model_cfg.get('freeze_last_layer', 0)),
                int(cfg.model.get('head', {}).get(
                    'warmup_teacher_temp_epochs', 0)))
    hub.update_info('max_iters', 100000)
    hub.update_info('epoch', epoch)
    hub.update_info('iter', 0)
    hub.update_info('max_epochs', max(epoch + 1,
                                      int(cfg.get('max_epochs', epoch + 1))))
    return hub, epoch


def fused_on_cuda(optimizer_cfg: dict, device: torch.device) -> dict:
    """The optimiser config with ``fused=True`` for AdamW/Adam on CUDA (one
    kernel for all tensors; GradScaler then needs no host sync), unchanged
    elsewhere."""
    optimizer_cfg = dict(optimizer_cfg)
    kind = str(optimizer_cfg.get('type', ''))
    if device.type == 'cuda' and kind.split('.')[-1] in ('AdamW', 'Adam'):
        optimizer_cfg.setdefault('fused', True)
    return optimizer_cfg


def build_full(cfg, device: torch.device, amp: bool, compile_parts=False):
    """The config's algorithm and optimiser wrapper (fp32 or its AMP twin;
    fused AdamW on CUDA); ``compile_parts`` as ``cfg.compile`` would set it
    (see :class:`~gtsa_plugin.models.utils.CompiledPartsMixin`)."""
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    model.to(device)
    model.train()
    if compile_parts:
        model.compile_parts = compile_parts
    wrapper_cfg = optim_wrapper_cfg(cfg, amp)
    wrapper_cfg['optimizer'] = fused_on_cuda(wrapper_cfg['optimizer'], device)
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    return model, wrapper


def build_floor(cfg, device: torch.device, amp: bool):
    """Student backbone (config's), a deepcopy of it as the frozen teacher,
    AdamW (the config's lr, betas, weight decay; fused on CUDA) over the
    student; with ``amp`` the config's autocast dtype."""
    from mmengine.optim import AmpOptimWrapper, OptimWrapper
    from mmpretrain.registry import MODELS
    student = MODELS.build(copy.deepcopy(cfg.model.backbone))
    student.init_weights()
    teacher = copy.deepcopy(student)
    teacher.requires_grad_(False)
    student.to(device).train()
    teacher.to(device).eval()
    opt_cfg = cfg.optim_wrapper.get('optimizer', {})
    optimizer = torch.optim.AdamW(
        student.parameters(),
        lr=float(opt_cfg.get('lr', 1e-3)),
        betas=tuple(opt_cfg.get('betas', (0.9, 0.999))),
        weight_decay=float(opt_cfg.get('weight_decay', 0.04)),
        fused=True if device.type == 'cuda' else None)
    if amp:  # the full step's dtype and loss scale
        amp_cfg = optim_wrapper_cfg(cfg, True)
        wrapper = AmpOptimWrapper(optimizer=optimizer,
                                  loss_scale=amp_cfg['loss_scale'],
                                  dtype=amp_cfg['dtype'])
    else:
        wrapper = OptimWrapper(optimizer=optimizer)
    return student, teacher, wrapper


def floor_step(preprocessor, student, teacher, wrapper, data) -> None:
    from gtsa_plugin.models.algorithms.gtsa import resolution_groups
    with wrapper.optim_context(student):
        batch = preprocessor(data, True)
        inputs = batch['inputs']
        groups = resolution_groups(inputs)
        loss = 0.
        for views in groups:
            out = student(torch.cat([inputs[v] for v in views]))[-1]
            loss = loss + out.float().mean()
        with torch.no_grad():
            teacher(torch.cat([inputs[v] for v in groups[0]]))
    wrapper.update_params(loss)


def arch_floor_loss(model, inputs):
    """The architecture floor's forward: the algorithm's student on all
    views and its teacher on the globals (EMA update where the algorithm
    does it), through the same compiled or eager parts as its loss, with
    the losses replaced by the mean of every student output.

    GTSA: backbone -> projector -> predictor maps and the rotation head's
    logits (EMA update before the teacher forward). DINO: CLS tokens ->
    neck (the EMA update comes after the optimiser step, in
    :func:`arch_floor_step`)."""
    from gtsa_plugin.models.algorithms.gtsa import resolution_groups
    groups = resolution_groups(inputs)
    globals_ = torch.cat([inputs[v] for v in groups[0]])
    outs = [model.part('student_group')(torch.cat([inputs[v] for v in g]))
            for g in groups]
    if hasattr(model, 'rot_head'):  # GTSA
        loss = sum(maps.float().mean() for _, maps in outs)
        loss = loss + model.rot_head(
            torch.cat([p for p, _ in outs])).float().mean()
        model.target_net.update_parameters(
            torch.nn.Sequential(model.backbone, model.neck))
    else:  # DINO
        loss = model.neck((torch.cat(outs), ))[-1].float().mean()
    with torch.no_grad():
        model.part('teacher_forward')(globals_)
    return loss


def arch_floor_step(model, wrapper, data) -> None:
    """:func:`arch_floor_loss`, then the algorithm's optimiser wrapper
    (clipping, AdamW) and, for DINO, the teacher update after the step."""
    with wrapper.optim_context(model):
        batch = model.data_preprocessor(data, True)
        loss = arch_floor_loss(model, batch['inputs'])
    wrapper.update_params(loss)
    if hasattr(model, 'update_teacher'):  # DINO: EMA after the step
        model.update_teacher()
    wrapper.__dict__.pop('last_grad_norm', None)


def full_step(model, wrapper, data):
    return model.train_step(data, wrapper)
