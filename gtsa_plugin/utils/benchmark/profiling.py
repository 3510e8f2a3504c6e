"""torch.profiler summary of the full step, by region of the algorithm."""
from contextlib import contextmanager

import torch

from .machine import sync
from .setup import full_step


def _region_targets(model, wrapper):
    """(label, object, method name) of the algorithm's parts that exist."""
    head = getattr(model, 'head', None)
    candidates = [
        ('preprocess', model, 'data_preprocessor', 'forward'),
        ('student.backbone', model, 'backbone', 'forward'),
        ('student.neck', model, 'neck', 'forward'),
        ('student.head.predictor', head, 'predictor', 'forward'),
        ('ema.update_parameters', model, 'target_net', 'update_parameters'),
        ('teacher.forward', model, 'target_net', 'forward'),
        ('head.loss', model, 'head', 'loss'),
        ('head.align_pairs', head, None, 'align_pairs'),
        ('head.pair_geometry', head, None, 'pair_geometry'),
        ('head.crop_loss', head, 'crop_loss', 'forward'),
        ('head.pc_loss', head, 'pc_loss', 'forward'),
        ('rot_head.loss', model, 'rot_head', 'loss'),
        ('parse_losses', model, None, 'parse_losses'),
        ('optim.backward', wrapper, None, 'backward'),
        ('optim.step', wrapper, None, 'step'),
        ('optim.clip_grad', wrapper, None, '_clip_grad'),
        ('optim.zero_grad', wrapper, None, 'zero_grad'),
    ]
    targets = []
    for label, owner, attr, method in candidates:
        obj = owner if attr is None else getattr(owner, attr, None)
        if obj is not None and callable(getattr(obj, method, None)):
            targets.append((label, obj, method))
    return targets


@contextmanager
def profiled_regions(model, wrapper):
    """Wrap the algorithm's parts in ``record_function('region::...')``."""
    from torch.profiler import record_function
    patched = []
    for label, obj, method in _region_targets(model, wrapper):
        original = getattr(obj, method)

        def wrapped(*a, _original=original, _label=label, **kw):
            with record_function(f'region::{_label}'):
                return _original(*a, **kw)

        had_own = method in vars(obj)
        setattr(obj, method, wrapped)
        patched.append((obj, method, had_own, original))
    try:
        yield
    finally:
        for obj, method, had_own, original in reversed(patched):
            if had_own:
                setattr(obj, method, original)
            else:
                delattr(obj, method)


def _time_us(evt, *names):
    for name in names:
        value = getattr(evt, name, None)
        if value is not None:
            return float(value)
    return 0.0


def profile_full_step(model, wrapper, data, device: torch.device,
                      iters: int) -> dict:
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    with profiled_regions(model, wrapper):
        full_step(model, wrapper, data)  # one unrecorded step
        sync(device)
        with profile(activities=activities) as prof:
            for _ in range(iters):
                full_step(model, wrapper, data)
                sync(device)
    from torch.autograd.profiler_util import FunctionEventAvg
    events = prof.key_averages()
    on_cuda = device.type == 'cuda'
    device_key = 'self_device_time_total' if hasattr(
        FunctionEventAvg(), 'self_device_time_total') else \
        'self_cuda_time_total'
    sort_key = device_key if on_cuda else 'self_cpu_time_total'
    ops = [e for e in events if not e.key.startswith('region::')]
    self_key = (device_key, ) if on_cuda else ('self_cpu_time_total', )
    ops.sort(key=lambda e: _time_us(e, *self_key), reverse=True)
    top_ops = [
        dict(name=e.key, calls=int(e.count) // iters,
             self_ms_per_step=_time_us(e, *self_key) / 1e3 / iters,
             self_cpu_ms_per_step=e.self_cpu_time_total / 1e3 / iters)
        for e in ops[:30]
    ]
    regions = [
        dict(region=e.key[len('region::'):], calls=int(e.count) // iters,
             cpu_ms_per_step=e.cpu_time_total / 1e3 / iters,
             device_ms_per_step=(_time_us(e, 'device_time_total',
                                          'cuda_time_total') / 1e3 / iters
                                 if on_cuda else None))
        for e in events if e.key.startswith('region::')
    ]
    regions.sort(key=lambda r: r['cpu_ms_per_step'], reverse=True)
    table = events.table(sort_by=sort_key, row_limit=30)
    return dict(iters=iters, sort_by=sort_key, top_ops=top_ops,
                regions=regions, table=table)


def format_profile(prof: dict) -> str:
    lines = [f'torch.profiler: {prof["iters"]} full steps, ops sorted by '
             f'{prof["sort_by"]} (times per step)', '',
             'Regions (inclusive; nested regions are also inside their '
             'parents; on CUDA the backward kernels run on autograd\'s '
             'device thread, outside the optim.backward region\'s device '
             'time: see the op table):',
             f'  {"region":<26} {"calls":>5} {"cpu ms":>10} {"device ms":>10}']
    for r in prof['regions']:
        dev = '' if r['device_ms_per_step'] is None else \
            f'{r["device_ms_per_step"]:10.2f}'
        lines.append(f'  {r["region"]:<26} {r["calls"]:>5} '
                     f'{r["cpu_ms_per_step"]:10.2f} {dev}')
    lines += ['', 'Top ops by self time:',
              f'  {"op":<44} {"calls":>6} {"self ms":>9}']
    for o in prof['top_ops']:
        lines.append(f'  {o["name"][:44]:<44} {o["calls"]:>6} '
                     f'{o["self_ms_per_step"]:9.2f}')
    lines += ['', 'Full torch.profiler table (totals over all recorded '
              'steps):', prof['table']]
    return '\n'.join(lines)
