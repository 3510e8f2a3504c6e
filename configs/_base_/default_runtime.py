# Runtime shared by the pretraining configs (mmpretrain scope).
default_scope = 'mmpretrain'
custom_imports = dict(imports=['gtsa_plugin'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', interval=10, max_keep_ckpts=3, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [
    # Logs images used/skipped per epoch (unreadable files are skipped).
    dict(type='DataStatsHook'),
    # Stops at the first NaN/inf loss term, naming it, before the diverged
    # weights can be checkpointed.
    dict(type='NonFiniteLossHook', interval=1),
    # Seeds every epoch (and every sample) from (seed, epoch), so a run
    # resumed from an epoch checkpoint replays the uninterrupted one.
    dict(type='EpochSeedHook'),
]

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py falls back to gloo when no GPU is present. timeout
    # (seconds) bounds every collective: a stalled or hung rank ends the job
    # with an error after 10 minutes instead of torch's 30 (gloo) or longer.
    # Raise it if a rank legitimately works alone longer (e.g. a very slow
    # first checkpoint write on rank 0).
    dist_cfg=dict(backend='nccl', timeout=600),
)
log_processor = dict(
    window_size=10,
    custom_cfg=[dict(data_src='', method='mean', window_size='global')])

# Add dict(type='TensorboardVisBackend') to log to TensorBoard as well.
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
