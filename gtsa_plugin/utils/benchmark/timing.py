"""Interleaved timing of the floors and the full step; FLOP counts."""
import gc
import random
import statistics
import time

import numpy as np
import torch

from .machine import GIB, PeakMemory, state_bytes, sync
from .setup import (arch_floor_step, build_floor, build_full, build_multicrop,
                    floor_step, full_step, make_batch, setup_message_hub)


def summarize(values):
    values = [float(v) for v in values]
    if not values:
        return dict(median=None, q1=None, q3=None, iqr=None, min=None,
                    max=None)
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method='inclusive')
    else:
        q1 = q3 = values[0]
    return dict(median=statistics.median(values), q1=q1, q3=q3,
                iqr=q3 - q1, min=min(values), max=max(values))


def _gib(value):
    return None if value is None else value / GIB


SETUPS = ('floor', 'arch', 'full')  # interleaved in this order
PREFIX = dict(floor='floor_', arch='arch_floor_', full='')


def measure_model(cfg, args, device: torch.device) -> dict:
    """Time the backbone floor, the architecture floor and the full step,
    interleaved step by step on the same batch; see ``tools/benchmark.py``.
    """
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = bool(
            cfg.get('env_cfg', {}).get('cudnn_benchmark', False))
    hub, epoch = setup_message_hub(cfg)
    batch_size = args.batch_size or int(cfg.train_dataloader.batch_size)
    compile_parts = bool(getattr(args, 'compile', False))

    model, wrapper = build_full(cfg, device, args.amp, compile_parts)
    arch, arch_wrapper = build_full(cfg, device, args.amp, compile_parts)
    student, teacher, floor_wrapper = build_floor(cfg, device, args.amp)
    if compile_parts:
        student.forward = torch.compile(student.forward, dynamic=False)
    transform = build_multicrop(cfg)
    data, view_sizes = make_batch(transform, batch_size, device, args.seed)
    preprocessor = model.data_preprocessor

    steps = dict(
        floor=lambda: floor_step(preprocessor, student, teacher,
                                 floor_wrapper, data),
        arch=lambda: arch_floor_step(arch, arch_wrapper, data),
        full=lambda: full_step(model, wrapper, data))
    meter = PeakMemory(device)
    times = {name: [] for name in SETUPS}
    peaks = {name: [] for name in SETUPS}
    resident = {name: 0 for name in SETUPS}
    first_s = {}
    for i in range(args.warmup + args.iters):
        if i == args.warmup:
            # Optimiser state exists now; what each setup keeps resident.
            resident['floor'] = state_bytes([student, teacher],
                                            [floor_wrapper.optimizer])
            resident['arch'] = state_bytes([arch], [arch_wrapper.optimizer])
            resident['full'] = state_bytes([model], [wrapper.optimizer])
            gc.collect()
        hub.update_info('iter', i)
        for name in SETUPS:  # interleaved
            meter.start()
            start = time.perf_counter()
            steps[name]()
            sync(device)
            elapsed = time.perf_counter() - start
            peak = meter.stop()
            first_s.setdefault(name, elapsed)
            if i >= args.warmup:
                times[name].append(elapsed)
                peaks[name].append(peak)

    def own_peak(name):
        values = [p for p in peaks[name] if p is not None]
        if not values:
            return None, None
        raw = max(values)
        if device.type == 'cuda':  # the other setups share the device
            others = sum(v for k, v in resident.items() if k != name)
            return raw - others, raw
        return raw, raw

    stats = {name: summarize(times[name]) for name in SETUPS}
    result = dict(algorithm=type(model).__name__, batch_size=batch_size,
                  views=view_sizes, epoch=epoch, compile=compile_parts)
    own = {}
    for name in SETUPS:
        p = PREFIX[name]
        own[name], raw = own_peak(name)
        result.update({
            f'{p}step_s': stats[name]['median'],
            f'{p}step_spread_s': stats[name],
            f'{p}img_per_s': batch_size / stats[name]['median'],
            f'{p}step_times_s': times[name],
            f'{p}first_step_s': first_s[name],
            f'{p}peak_mem_gib': _gib(own[name]),
            f'{p}peak_mem_raw_gib': _gib(raw),
            f'{p}resident_state_gib': _gib(resident[name]),
        })
    full_s = stats['full']['median']
    result.update(
        ratio=full_s / stats['floor']['median'],
        ratio_paired_median=statistics.median(
            [f / b for f, b in zip(times['full'], times['floor'])]),
        # Under contention the fastest steps are the least disturbed ones.
        ratio_of_min=stats['full']['min'] / stats['floor']['min'],
        arch_ratio=full_s / stats['arch']['median'],
        arch_ratio_paired_median=statistics.median(
            [f / a for f, a in zip(times['full'], times['arch'])]),
        arch_ratio_of_min=stats['full']['min'] / stats['arch']['min'],
        mem_ratio=(own['full'] / own['floor']
                   if own['full'] and own['floor'] else None),
        arch_mem_ratio=(own['full'] / own['arch']
                        if own['full'] and own['arch'] else None),
        mem_method=meter.method,
        optim_wrapper=str(wrapper.__class__.__name__),
        floor_optim_wrapper=str(floor_wrapper.__class__.__name__),
        autocast_dtype=str(getattr(wrapper, 'cast_dtype', None) or
                           ('float16' if args.amp else 'float32')),
    )
    if args.flops:
        flops = {name: count_flops(steps[name]) for name in SETUPS}
        peak = getattr(args, 'peak_tflops', None)
        for name in SETUPS:
            p = PREFIX[name]
            gflops = flops[name]['total'] / 1e9
            # torch's ModuleTracker can charge backward ops of one module
            # to another (GTSA's backbone gets part of the projector's):
            # indicative only, the totals are exact.
            result[f'{p}gflops'] = gflops
            result[f'{p}gflops_by_module_approx'] = flops[name]['by_module']
            achieved = gflops / stats[name]['median'] / 1e3  # TFLOP/s
            result[f'{p}tflops_per_s'] = achieved
            result[f'{p}mfu'] = achieved / peak if peak else None
        result['flops_ratio'] = result['gflops'] / result['floor_gflops']
        result['arch_flops_ratio'] = result['gflops'] / \
            result['arch_floor_gflops']
        result['peak_tflops'] = peak
    if args.profile:
        result['_profile_objects'] = (model, wrapper, data)
    return result


def count_flops(step) -> dict:
    """FLOPs (forward and backward) of one call of ``step``, in total and
    per top-level submodule; only ops torch's flop counter knows (matmuls,
    convolutions, attention), i.e. the compute-bound part."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        step()
    by_module = {}
    for name, ops in counter.get_flop_counts().items():
        if name != 'Global' and name.count('.') == 1:
            by_module[name] = sum(ops.values()) / 1e9
    return dict(total=counter.get_total_flops(), by_module=by_module)
