"""Time a config's full training step against two floors.

    python tools/benchmark.py CONFIG [--batch-size N] [--iters N]
        [--warmup N] [--precision fp32|fp16|bf16 | --amp] [--compile]
        [--device cpu|cuda]
        [--out FILE.json] [--profile] [--flops] [--peak-tflops T]
        [--pipeline-images N] [--pipeline-passes N]
        [--compare-pipeline CONFIG2] [--skip-pipeline] [--skip-model]
        [--threads N] [--cfg-options k=v ...]

In one process, on the same synthetic batch (already on the device), it
alternates three steps, ``floor, arch floor, full, floor, ...``, so that
drift (other jobs, clocks, the allocator) hits all alike:

1. the floor: what every multi-crop method must do with the config's
   backbone: student forward + backward on all views (one pass per
   resolution group, as the algorithms do), teacher forward without grad on
   the global views (a deepcopy of the backbone), AdamW step over the
   student backbone (mixed precision with ``--precision fp16|bf16`` or
   ``--amp``, as the full step);
2. the architecture floor: a second instance of the config's algorithm
   doing everything but its losses: the same student (GTSA: backbone,
   projector, predictor and rotation head; DINO: backbone and neck) forward
   and backward on all views, the same teacher forward on the globals, the
   same optimiser wrapper (clipping, AdamW) and EMA update, the losses
   replaced by the mean of the same outputs; ``full / arch floor`` is what
   the losses' machinery costs;
3. the full step: ``model.train_step(data, optim_wrapper)`` of the config's
   algorithm (GTSA or DINO), with the optimiser wrapper built from the
   config's ``optim_wrapper`` (its non-AMP twin in fp32, its AMP twin with
   ``--amp``; the autocast dtype is the config's, e.g.
   ``--cfg-options optim_wrapper.dtype=bfloat16``). On CUDA, AdamW is
   fused (``fused=True``) in all three.

``--compile`` compiles what ``cfg.compile = True`` compiles in training
(the algorithm's student forward per resolution group, teacher forward and
losses; the floor's backbone forward): the first steps include the
compilation (``first_step_s``), ``--warmup`` should cover it.

Both go through the model's data preprocessor (uint8 views in, as the
dataloader delivers them). The batch holds random views of the config's
crop sizes and counts, and DataSamples with the overlapping ``crop_boxes``
and ``crop_rotations`` the config's multi-crop transform would draw on a
640x480 image. The EMA schedule's ``max_iters`` and the epoch (past the
patch-correspondence warm-up and DINO's last-layer freeze, so the
steady-state step is timed) are set in mmengine's MessageHub.

4. the data pipeline alone: the config's ``train_dataloader`` pipeline run
   in this process on real-size 640x480 JPEGs written by the synthetic scene
   generator, with one torch thread and the config's OpenCV thread setting,
   as in one dataloader worker: images per second per worker, with a
   per-stage breakdown (separate, instrumented pass). ``--compare-pipeline``
   times a second config's pipeline on the same images, interleaved image by
   image.

``--flops`` counts the matmul/convolution/attention FLOPs of one step of
each kind (``torch.utils.flop_counter``): their ratios are what the step
ratios would be if all were purely compute-bound; with ``--peak-tflops``
(the device's dense peak, e.g. 989 for an H200 in bf16) also the model
FLOP utilisation (FLOPs per step / step time / peak).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (reset before every
step) minus the resident state (parameters, buffers, gradients, optimiser
state) of the OTHER setups, which share the device; on CPU the growth of the
peak resident set size during the step (``VmHWM``, reset through
``/proc/self/clear_refs``); ``null`` where neither is available.

On a CPU shared with other jobs, two OpenMP threads that spin while waiting
can make a step 30x slower: set ``OMP_WAIT_POLICY=PASSIVE`` (recorded in the
JSON) or ``--threads 1``.

Prints a table and, with ``--out``, writes JSON (per-iteration times
included; ``ratio`` is ``step_s / floor_step_s`` and ``arch_ratio``
``step_s / arch_floor_step_s``, the medians; also the medians of the
per-iteration ratios and the ratios of the fastest steps).

The work is done by :mod:`gtsa_plugin.utils.benchmark`, one module per job;
this script is its command line.
``--profile`` adds a torch.profiler summary of a few full steps (top ops by
self time, and time per region of the algorithm), printed and saved next to
the JSON as ``<out>.profile.txt``.
"""
import argparse
import json
import os
import os.path as osp
import platform
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from gtsa_plugin.utils.benchmark.machine import (  # noqa: E402
    cpu_model, device_name, load_average)
from gtsa_plugin.utils.benchmark.pipeline import \
    measure_pipelines  # noqa: E402
from gtsa_plugin.utils.benchmark.profiling import (  # noqa: E402
    format_profile, profile_full_step)
from gtsa_plugin.utils.benchmark.report import format_table  # noqa: E402
from gtsa_plugin.utils.benchmark.setup import (  # noqa: E402,F401
    load_cfg, optim_wrapper_cfg)
from gtsa_plugin.utils.benchmark.timing import (  # noqa: E402,F401
    measure_model, summarize)


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
    parser.add_argument('--compile', action='store_true',
                        help='compile what cfg.compile=True compiles (the '
                        'algorithm\'s student/teacher forwards and losses, '
                        'the floor\'s backbone forward)')
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
    parser.add_argument('--peak-tflops', type=float, default=None,
                        help='dense peak of the device in TFLOP/s for the '
                        'MFU column (with --flops), e.g. 989 (H200, bf16)')
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
        floor_step_s=None, arch_floor_step_s=None, step_s=None, ratio=None,
        arch_ratio=None,
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
