# Runtime and 12-epoch schedule of the CPU demos (gtsa_vit-tiny_demo.py,
# dino_vit-tiny_demo.py): fp32 AdamW lr 1e-3 (1 warm-up epoch, cosine to
# 1e-5), weight decay cosine 0.04 -> 0.4, batch 16, gloo, frequent logs.
_base_ = ['./default_runtime.py']

max_epochs = 12
optim_wrapper = dict(
    type='PerParamClipOptimWrapper',
    # fused: a step with non-finite gradients is skipped on the device.
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), fused=True,
                   weight_decay=0.04),
    clip_grad=dict(max_norm=3.0),
    # The EMA teacher is frozen: skip it with one log line, not 300.
    constructor='FrozenModuleOptimWrapperConstructor',
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5,
         by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=16, enable=False)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=4, max_keep_ckpts=2))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
