"""Time a config's full training step against the backbone-only floor.

    python tools/benchmark.py CONFIG [--batch-size N] [--iters N]
        [--warmup N] [--precision fp32|fp16|bf16 | --amp]
        [--device cpu|cuda] [--out FILE.json]
        [--profile] [--flops] [--pipeline-images N] [--pipeline-passes N]
        [--compare-pipeline CONFIG2] [--skip-pipeline] [--skip-model]
        [--threads N] [--cfg-options k=v ...]

In one process, on the same synthetic batch (already on the device), it
alternates two steps, ``floor, full, floor, full, ...``, so that drift (other
jobs, clocks, the allocator) hits both alike:

1. the floor: what every multi-crop method must do with the config's
   backbone: student forward + backward on all views (one pass per
   resolution group, as the algorithms do), teacher forward without grad on
   the global views (a deepcopy of the backbone), AdamW step over the
   student backbone (mixed precision with ``--precision fp16|bf16`` or
   ``--amp``, as the full step);
2. the full step: ``model.train_step(data, optim_wrapper)`` of the config's
   algorithm (GTSA or DINO), with the optimiser wrapper built from the
   config's ``optim_wrapper`` switched by
   ``gtsa_plugin.apis.precision.apply_precision`` (fp32 by default, whatever
   the config asks; its AMP twin with ``--precision fp16|bf16`` or
   ``--amp``).

Both go through the model's data preprocessor (uint8 views in, as the
dataloader delivers them). The batch holds random views of the config's
crop sizes and counts, and DataSamples with the overlapping ``crop_boxes``
and ``crop_rotations`` the config's multi-crop transform would draw on a
640x480 image. The EMA schedule's ``max_iters`` and the epoch (past the
patch-correspondence warm-up and DINO's last-layer freeze, so the
steady-state step is timed) are set in mmengine's MessageHub.

3. the data pipeline alone: the config's ``train_dataloader`` pipeline run
   in this process on real-size 640x480 JPEGs written by the synthetic scene
   generator, with one torch thread and the config's OpenCV thread setting,
   as in one dataloader worker: images per second per worker, with a
   per-stage breakdown (separate, instrumented pass). ``--compare-pipeline``
   times a second config's pipeline on the same images, interleaved image by
   image.

``--flops`` counts the matmul/convolution/attention FLOPs of one floor and
one full step (``torch.utils.flop_counter``): their ratio is what the step
ratio would be if both were purely compute-bound.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (reset before every
step) minus the resident state (parameters, buffers, gradients, optimiser
state) of the OTHER setup, which shares the device; on CPU the growth of the
peak resident set size during the step (``VmHWM``, reset through
``/proc/self/clear_refs``); ``null`` where neither is available.

On a CPU shared with other jobs, two OpenMP threads that spin while waiting
can make a step 30x slower: set ``OMP_WAIT_POLICY=PASSIVE`` (recorded in the
JSON) or ``--threads 1``.

Prints a table and, with ``--out``, writes JSON (per-iteration times
included; ``ratio`` is ``step_s / floor_step_s``, the medians; also the
median of the per-iteration ratios and the ratio of the fastest steps).
``--profile`` adds a torch.profiler summary of a few full steps (top ops by
self time, and time per region of the algorithm), printed and saved next to
the JSON as ``<out>.profile.txt``.
"""
import argparse
import copy
import gc
import json
import os
import os.path as osp
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

GIB = float(1 << 30)
PIPELINE_IMAGE_SIZE = (640, 480)  # (width, height), COCO-like


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Full training step vs. backbone-only floor, and the '
        'data pipeline, of a GTSA/DINO config')
    parser.add_argument('config', help='pretraining config file')
    parser.add_argument('--batch-size', type=int, default=None,
                        help='images per step (default: the config\'s '
                        'train_dataloader.batch_size)')
    parser.add_argument('--iters', type=int, default=20,
                        help='measured steps of each kind')
    parser.add_argument('--warmup', type=int, default=3,
                        help='unmeasured steps of each kind first')
    parser.add_argument('--precision', choices=['fp32', 'fp16', 'bf16'],
                        default=None,
                        help='fp32 (default), fp16 or bf16 (the AMP optim '
                        'wrapper; CUDA only)')
    parser.add_argument('--amp', action='store_true',
                        help='same as --precision fp16')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default=None,
                        help='default: cuda when available, else cpu')
    parser.add_argument('--out', help='write the results as JSON here')
    parser.add_argument('--profile', action='store_true',
                        help='torch.profiler summary of the full step')
    parser.add_argument('--profile-iters', type=int, default=3,
                        help='full steps recorded by --profile')
    parser.add_argument('--pipeline-images', type=int, default=32,
                        help='640x480 JPEGs timed through the data pipeline')
    parser.add_argument('--pipeline-passes', type=int, default=1,
                        help='timed passes over the pipeline images')
    parser.add_argument('--compare-pipeline', metavar='CONFIG',
                        help='also time this config\'s train pipeline, '
                        'interleaved image by image with CONFIG\'s')
    parser.add_argument('--skip-pipeline', action='store_true',
                        help='do not time the data pipeline')
    parser.add_argument('--skip-model', action='store_true',
                        help='only time the data pipeline')
    parser.add_argument('--flops', action='store_true',
                        help='also count the matmul/conv/attention FLOPs of '
                        'one floor and one full step (torch.utils.'
                        'flop_counter): the compute-bound ratio')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch.set_num_threads for the model steps')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config')
    args = parser.parse_args(argv)
    if args.amp and args.precision not in (None, 'fp16'):
        parser.error(f'--amp (fp16) contradicts --precision {args.precision}')
    if args.iters < 1 and not args.skip_model:
        parser.error('--iters must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    if args.pipeline_images < 1 and not args.skip_pipeline:
        parser.error('--pipeline-images must be >= 1')
    if args.skip_model and args.skip_pipeline:
        parser.error('--skip-model and --skip-pipeline leave nothing to do')
    return args


# ---------------------------------------------------------------------------
# machine
# ---------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return cpu_model()


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------
def _proc_status_kib(field: str):
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS (glibc), so that the resident
    set before a step is what is live, not what the allocator cached."""
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes
            _LIBC = ctypes.CDLL('libc.so.6')
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC = None


def _reset_peak_rss() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak memory of one step: ``start()`` before it, ``stop()`` after it
    returns bytes (or None where the platform gives no per-step peak)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == 'cuda':
            self.method = ('torch.cuda.max_memory_allocated per step, minus '
                           'the resident state of the other setup')
        elif _proc_status_kib('VmHWM') is not None and _reset_peak_rss():
            self.method = ('peak RSS growth during the step over the RSS '
                           'before it (glibc malloc_trim first, then VmHWM '
                           'reset via /proc/self/clear_refs)')
        else:
            self.method = None  # reported as null
        self._base = 0

    def start(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.method is not None:
            gc.collect()
            _malloc_trim()
            _reset_peak_rss()
            self._base = _proc_status_kib('VmRSS') or 0

    def stop(self):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device)
        if self.method is None:
            return None
        peak = _proc_status_kib('VmHWM')
        return None if peak is None else max(0, peak - self._base) * 1024


def state_bytes(modules, optimizers) -> int:
    """Bytes of the tensors a setup keeps between steps (parameters,
    buffers, gradients, optimiser state), each storage counted once."""
    seen, total = set(), 0

    def add(t):
        nonlocal total
        if not torch.is_tensor(t):
            return
        storage = t.untyped_storage()
        key = (storage.data_ptr(), t.device)
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()

    for module in modules:
        for p in module.parameters():
            add(p)
            add(p.grad)
        for b in module.buffers():
            add(b)
    for optimizer in optimizers:
        for state in optimizer.state.values():
            for value in state.values():
                add(value)
    return total


# ---------------------------------------------------------------------------
# config, model, data
# ---------------------------------------------------------------------------
def load_cfg(path: str, cfg_options=None):
    from gtsa_plugin.apis.runner import load_config, register_toolkit
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
    fp32 one (``gtsa_plugin.apis.precision``)."""
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


def build_full(cfg, device: torch.device, amp: bool):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    model = MODELS.build(copy.deepcopy(cfg.model))
    model.init_weights()
    model.to(device)
    model.train()
    wrapper = build_optim_wrapper(model, optim_wrapper_cfg(cfg, amp))
    return model, wrapper


def build_floor(cfg, device: torch.device, amp: bool):
    """Student backbone (config's), a deepcopy of it as the frozen teacher,
    AdamW (the config's lr, betas, weight decay) over the student."""
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
        weight_decay=float(opt_cfg.get('weight_decay', 0.04)))
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


def full_step(model, wrapper, data):
    return model.train_step(data, wrapper)


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# model measurement
# ---------------------------------------------------------------------------
def measure_model(cfg, args, device: torch.device) -> dict:
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = bool(
            cfg.get('env_cfg', {}).get('cudnn_benchmark', False))
    hub, epoch = setup_message_hub(cfg)
    batch_size = args.batch_size or int(cfg.train_dataloader.batch_size)

    model, wrapper = build_full(cfg, device, args.amp)
    student, teacher, floor_wrapper = build_floor(cfg, device, args.amp)
    transform = build_multicrop(cfg)
    data, view_sizes = make_batch(transform, batch_size, device, args.seed)
    preprocessor = model.data_preprocessor

    def run_floor():
        floor_step(preprocessor, student, teacher, floor_wrapper, data)

    def run_full():
        full_step(model, wrapper, data)

    meter = PeakMemory(device)
    times = dict(floor=[], full=[])
    peaks = dict(floor=[], full=[])
    steps = dict(floor=run_floor, full=run_full)
    resident = dict(floor=0, full=0)
    total = args.warmup + args.iters
    for i in range(total):
        if i == args.warmup:
            # Optimiser state exists now; what each setup keeps resident.
            resident['floor'] = state_bytes([student, teacher],
                                            [floor_wrapper.optimizer])
            resident['full'] = state_bytes([model], [wrapper.optimizer])
            gc.collect()
        hub.update_info('iter', i)
        for name in ('floor', 'full'):  # interleaved
            meter.start()
            start = time.perf_counter()
            steps[name]()
            sync(device)
            elapsed = time.perf_counter() - start
            peak = meter.stop()
            if i >= args.warmup:
                times[name].append(elapsed)
                peaks[name].append(peak)

    def own_peak(name):
        values = [p for p in peaks[name] if p is not None]
        if not values:
            return None, None
        raw = max(values)
        if device.type == 'cuda':
            other = 'full' if name == 'floor' else 'floor'
            return raw - resident[other], raw
        return raw, raw

    floor_peak, floor_peak_raw = own_peak('floor')
    full_peak, full_peak_raw = own_peak('full')
    floor_stats = summarize(times['floor'])
    full_stats = summarize(times['full'])
    pair_ratios = [f / b for f, b in zip(times['full'], times['floor'])]
    result = dict(
        algorithm=type(model).__name__,
        batch_size=batch_size,
        views=view_sizes,
        epoch=epoch,
        floor_step_s=floor_stats['median'],
        step_s=full_stats['median'],
        ratio=full_stats['median'] / floor_stats['median'],
        ratio_paired_median=statistics.median(pair_ratios),
        # Under contention the fastest steps are the least disturbed ones.
        ratio_of_min=full_stats['min'] / floor_stats['min'],
        floor_step_spread_s=floor_stats,
        step_spread_s=full_stats,
        floor_img_per_s=batch_size / floor_stats['median'],
        img_per_s=batch_size / full_stats['median'],
        floor_step_times_s=times['floor'],
        step_times_s=times['full'],
        floor_peak_mem_gib=_gib(floor_peak),
        peak_mem_gib=_gib(full_peak),
        mem_ratio=(full_peak / floor_peak
                   if full_peak and floor_peak else None),
        floor_peak_mem_raw_gib=_gib(floor_peak_raw),
        peak_mem_raw_gib=_gib(full_peak_raw),
        floor_resident_state_gib=_gib(resident['floor']),
        resident_state_gib=_gib(resident['full']),
        mem_method=meter.method,
        optim_wrapper=str(wrapper.__class__.__name__),
        floor_optim_wrapper=str(floor_wrapper.__class__.__name__),
    )
    if args.flops:
        floor_flops = count_flops(run_floor)
        full_flops = count_flops(run_full)
        result.update(
            floor_gflops=floor_flops['total'] / 1e9,
            gflops=full_flops['total'] / 1e9,
            flops_ratio=full_flops['total'] / floor_flops['total'],
            # torch's ModuleTracker can charge backward ops of one module
            # to another (GTSA's backbone gets part of the projector's):
            # indicative only, the totals are exact.
            floor_gflops_by_module_approx=floor_flops['by_module'],
            gflops_by_module_approx=full_flops['by_module'])
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


# ---------------------------------------------------------------------------
# profiling
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# data pipeline
# ---------------------------------------------------------------------------
def write_scenes(root: str, num_images: int, seed: int):
    """``num_images`` real-size JPEGs from the synthetic scene generator;
    returns their paths."""
    from gtsa_plugin.datasets import synthetic
    width, height = PIPELINE_IMAGE_SIZE
    try:
        # One extra scene: the generator always keeps one for validation.
        paths = synthetic.generate_synthetic_scenes(
            root, num_images=num_images + 1, seed=seed,
            image_size=(width, height), val_fraction=0.0)
        folder = paths['unlabeled']
    except ImportError:
        # pycocotools (COCO layout) missing, e.g. on a bare GPU machine:
        # write the unlabelled JPEGs only, same scenes, same encoder.
        from PIL import Image
        folder = osp.join(root, 'unlabeled')
        os.makedirs(folder, exist_ok=True)
        for i in range(num_images):
            scene = synthetic.render_scene(i, seed=seed,
                                           image_size=(width, height))
            Image.fromarray(scene['image']).save(
                osp.join(folder, f'{i:06d}.jpg'), 'JPEG',
                quality=synthetic.JPEG_QUALITY)
    files = sorted(f for f in os.listdir(folder) if f.endswith('.jpg'))
    return [osp.join(folder, f) for f in files[:num_images]]


class _Timed:
    """Transform proxy adding its call time to ``totals[label]``."""

    def __init__(self, transform, label, totals):
        self.transform, self.label, self.totals = transform, label, totals

    def __call__(self, results):
        start = time.perf_counter()
        out = self.transform(results)
        self.totals[self.label] = self.totals.get(self.label, 0.0) + \
            time.perf_counter() - start
        return out


def _label(transform) -> str:
    name = type(transform).__name__
    inner = getattr(transform, 'transforms', None)
    if name == 'RandomApply' and inner is not None:
        inner = getattr(inner, 'transforms', inner)
        name += '(' + ','.join(type(t).__name__ for t in inner) + ')'
    return name


def _instrument(pipeline, totals):
    """Time every top-level transform and, inside a multi-crop transform,
    crop+resize and each photometric transform."""
    from gtsa_plugin.datasets.transforms import BaseMultiCrop
    for i, t in enumerate(pipeline.transforms):
        pipeline.transforms[i] = _Timed(t, 'total:' + type(t).__name__,
                                        totals)
        if isinstance(t, BaseMultiCrop):
            composes = list(t.pipelines) + [
                p for p in getattr(t, 'view_pipelines', []) if p is not None]
            for compose in composes:
                compose.transforms = [
                    t2 if isinstance(t2, _Timed) else
                    _Timed(t2, 'photometric:' + _label(t2), totals)
                    for t2 in compose.transforms
                ]
            original = t.crop_resize

            def crop_resize(*a, _original=original, **kw):
                start = time.perf_counter()
                out = _original(*a, **kw)
                totals['multicrop:crop_resize'] = totals.get(
                    'multicrop:crop_resize', 0.0) + time.perf_counter() - start
                return out

            t.crop_resize = crop_resize


def measure_pipelines(cfgs, num_images: int, seed: int,
                      passes: int = 1):
    """Time the train pipelines of ``cfgs`` on the same JPEGs, interleaved
    per image (pipeline A on image i, B on image i, B on i+1, A on i+1,
    ...), so that drift hits all alike; one result dict per config."""
    import cv2
    from mmengine.dataset import Compose
    pipeline_cfgs = [copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
                     for cfg in cfgs]
    mp_cfg = cfgs[0].get('env_cfg', {}).get('mp_cfg', {}) or {}
    cv2_threads = int(mp_cfg.get('opencv_num_threads', 0))
    root = tempfile.mkdtemp(prefix='gtsa_benchmark_')
    old_torch, old_cv2 = torch.get_num_threads(), cv2.getNumThreads()
    try:
        paths = write_scenes(osp.join(root, 'scenes'), num_images, seed)
        # As in one dataloader worker: one torch thread, the config's
        # OpenCV threads.
        torch.set_num_threads(1)
        cv2.setNumThreads(cv2_threads)
        pipelines = [Compose(copy.deepcopy(p)) for p in pipeline_cfgs]
        np.random.seed(seed + 1)
        random.seed(seed + 1)
        for pipeline in pipelines:  # warm-up (imports, caches)
            for idx, path in enumerate(paths[:2]):
                pipeline(dict(img_path=path, sample_idx=idx))

        np.random.seed(seed)
        random.seed(seed)
        per_image = [[] for _ in pipelines]
        for p in range(passes):
            for idx, path in enumerate(paths):
                order = list(range(len(pipelines)))
                if (idx + p) % 2:
                    order.reverse()
                for j in order:
                    start = time.perf_counter()
                    pipelines[j](dict(img_path=path, sample_idx=idx))
                    per_image[j].append(time.perf_counter() - start)

        # Stage breakdown: a separate, instrumented pass per pipeline.
        stages = []
        for pipeline_cfg in pipeline_cfgs:
            totals = {}
            instrumented = Compose(copy.deepcopy(pipeline_cfg))
            _instrument(instrumented, totals)
            np.random.seed(seed)
            random.seed(seed)
            for idx, path in enumerate(paths):
                instrumented(dict(img_path=path, sample_idx=idx))
            stages.append({k: v / len(paths) * 1e3
                           for k, v in sorted(totals.items())})
    finally:
        torch.set_num_threads(old_torch)
        cv2.setNumThreads(old_cv2)
        shutil.rmtree(root, ignore_errors=True)
    results = []
    for times, stage in zip(per_image, stages):
        stats = summarize(times)
        results.append(dict(
            pipeline_img_per_s_per_worker=len(times) / sum(times),
            pipeline_images=len(paths),
            pipeline_passes=passes,
            pipeline_image_size=list(PIPELINE_IMAGE_SIZE),
            pipeline_ms_per_img=stats['median'] * 1e3,
            pipeline_ms_per_img_spread=dict(
                (k, v * 1e3) for k, v in stats.items()),
            pipeline_stage_ms_per_img=stage,
            pipeline_threads=dict(torch=1, opencv=cv2_threads),
        ))
    return results


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------
def _fmt(value, spec='.4f'):
    return '-' if value is None else format(value, spec)


def format_table(res: dict) -> str:
    model = ''
    if res.get('step_s') is not None:
        model = (f'batch {res["batch_size"]} | '
                 f'{res.get("precision", "fp16" if res["amp"] else "fp32")}'
                 ' | '
                 f'{res["iters"]} iters after {res["warmup"]} warm-up, '
                 'interleaved | ')
    head = (f'{res["config"]} | {res.get("algorithm", "")} | '
            f'{res["device_type"]}: {res["device"]} '
            f'({res["threads"]} threads) | torch {res["torch"]} | {model}'
            f'load avg {res["load_average_start"]} -> '
            f'{res["load_average_end"]}')
    lines = [head]
    if res.get('step_s') is not None:
        views = res['views']
        groups = {}
        for s in views:
            groups[s] = groups.get(s, 0) + 1
        mem = res['mem_method'] or \
            'null (no per-step peak on this platform)'
        lines.append('views: ' + ' + '.join(
            f'{n}x{s}px' for s, n in groups.items()) +
            f'; epoch {res["epoch"]}; memory: {mem}')
        lines.append('')
        lines.append(f'| {"step":<22} | {"median s":>9} | {"IQR s":>8} | '
                     f'{"min s":>8} | {"max s":>8} | {"img/s":>8} | '
                     f'{"peak GiB":>8} |')
        lines.append('|' + '|'.join('-' * w for w in
                                    (24, 11, 10, 10, 10, 10, 10)) + '|')
        for label, prefix in (('floor (backbone only)', 'floor_'),
                              (f'full ({res["algorithm"]})', '')):
            spread = res[f'{prefix}step_spread_s']
            lines.append(
                f'| {label:<22} | {res[f"{prefix}step_s"]:9.4f} | '
                f'{spread["iqr"]:8.4f} | {spread["min"]:8.4f} | '
                f'{spread["max"]:8.4f} | {res[f"{prefix}img_per_s"]:8.1f} | '
                f'{_fmt(res[f"{prefix}peak_mem_gib"], "8.3f"):>8} |')
        lines.append(
            f'| {"full / floor":<22} | {res["ratio"]:8.3f}x | '
            f'{"":>8} | {"":>8} | {"":>8} | {"":>8} | '
            f'{_fmt(res["mem_ratio"], "7.3f") + "x":>8} |')
        lines.append(f'paired per-iteration ratio, median: '
                     f'{res["ratio_paired_median"]:.3f}x; ratio of the '
                     f'fastest steps (min/min): {res["ratio_of_min"]:.3f}x')
        if res.get('flops_ratio') is not None:
            lines.append(
                f'FLOPs per step (matmul/conv/attention, fwd+bwd): floor '
                f'{res["floor_gflops"]:.1f} G, full {res["gflops"]:.1f} G, '
                f'ratio {res["flops_ratio"]:.3f}x (the compute-bound '
                'ratio)')
    if res.get('pipeline_img_per_s_per_worker') is not None:
        lines.append('')
        lines.append(
            f'data pipeline (1 process = 1 worker, {res["pipeline_images"]} '
            f'x {res["pipeline_passes"]} '
            f'{res["pipeline_image_size"][0]}x{res["pipeline_image_size"][1]}'
            f' JPEGs): {res["pipeline_img_per_s_per_worker"]:.2f} img/s per '
            f'worker, median {res["pipeline_ms_per_img"]:.1f} ms/img '
            f'(IQR {res["pipeline_ms_per_img_spread"]["iqr"]:.1f})')
        for stage, ms in res['pipeline_stage_ms_per_img'].items():
            lines.append(f'    {stage:<60} {ms:8.2f} ms/img')
        cmp = res.get('compare_pipeline')
        if cmp:
            lines.append(
                f'compared, interleaved per image: {cmp["config"]}: '
                f'{cmp["pipeline_img_per_s_per_worker"]:.2f} img/s per '
                f'worker; this / that = {cmp["speed_ratio"]:.3f}x')
            for stage, ms in cmp['pipeline_stage_ms_per_img'].items():
                lines.append(f'    {stage:<60} {ms:8.2f} ms/img')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no CUDA device available')
    precision = args.precision or ('fp16' if args.amp else 'fp32')
    switch = '--amp' if args.amp else f'--precision {precision}'
    if precision != 'fp32' and args.device != 'cuda':
        raise SystemExit(f'{switch} needs --device cuda (AMP)')
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    # Quiet mmengine (init_weights reports every tensor at INFO).
    from mmengine.logging import MMLogger
    MMLogger.get_instance('gtsa_benchmark', log_level='WARNING')

    cfg = load_cfg(args.config, args.cfg_options)
    from gtsa_plugin.apis.precision import apply_precision
    apply_precision(cfg, precision, switch)
    args.amp = precision != 'fp32'
    result = dict(
        config=args.config,
        device=device_name(device),
        device_type=device.type,
        cpu=cpu_model(),
        cpu_count=os.cpu_count(),
        threads=torch.get_num_threads(),
        torch=torch.__version__,
        python=platform.python_version(),
        amp=bool(args.amp),
        precision=precision,
        iters=args.iters,
        warmup=args.warmup,
        seed=args.seed,
        batch_size=args.batch_size or int(cfg.train_dataloader.batch_size),
        load_average_start=load_average(),
        env=dict((k, os.environ.get(k)) for k in (
            'OMP_NUM_THREADS', 'OMP_WAIT_POLICY', 'MKL_NUM_THREADS',
            'CUDA_VISIBLE_DEVICES')),
        floor_step_s=None, step_s=None, ratio=None,
        floor_peak_mem_gib=None, peak_mem_gib=None,
        pipeline_img_per_s_per_worker=None,
        algorithm=cfg.model.get('type'),
    )
    try:
        import mmcv
        import mmengine
        import mmpretrain
        result['versions'] = dict(mmengine=mmengine.__version__,
                                  mmcv=mmcv.__version__,
                                  mmpretrain=mmpretrain.__version__)
    except ImportError:  # pragma: no cover
        pass

    profile_objects = None
    if not args.skip_model:
        model_res = measure_model(cfg, args, device)
        profile_objects = model_res.pop('_profile_objects', None)
        result.update(model_res)
    if not args.skip_pipeline:
        other = [load_cfg(args.compare_pipeline)] \
            if args.compare_pipeline else []
        pipes = measure_pipelines([cfg] + other, args.pipeline_images,
                                  args.seed, args.pipeline_passes)
        result.update(pipes[0])
        if other:
            result['compare_pipeline'] = dict(
                pipes[1], config=args.compare_pipeline,
                speed_ratio=(pipes[0]['pipeline_img_per_s_per_worker'] /
                             pipes[1]['pipeline_img_per_s_per_worker']))
    result['load_average_end'] = load_average()

    table = format_table(result)
    print(table)
    profile_text = None
    if args.profile and profile_objects is not None:
        prof = profile_full_step(*profile_objects, device, args.profile_iters)
        profile_text = format_profile(prof)
        print()
        print(profile_text)
        result['profile'] = dict(
            (k, v) for k, v in prof.items() if k != 'table')
    if args.out:
        out = osp.abspath(args.out)
        os.makedirs(osp.dirname(out), exist_ok=True)
        if profile_text is not None:
            stem = out[:-5] if out.endswith('.json') else out
            result['profile_file'] = stem + '.profile.txt'
            with open(result['profile_file'], 'w') as f:
                f.write(table + '\n\n' + profile_text + '\n')
        result['table'] = table
        with open(out, 'w') as f:
            json.dump(result, f, indent=2)
        print(f'\nwrote {out}')
    return result


if __name__ == '__main__':
    main()
