# The self-supervised recipe of both the GTSA and the DINO reference code:
# AdamW, lr 5e-4 x total batch / 256 (1e-3 for 8 x 64), 10 warm-up epochs
# then cosine to 1e-6, weight decay cosine 0.04 -> 0.4
# (none on biases and norms), per-parameter gradient clipping at 3.0, fp16.
optim_wrapper = dict(
    type='PerParamClipAmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='AdamW', lr=5e-4 * 512 / 256, betas=(0.9, 0.999),
        weight_decay=0.04,
        # Fused: a step with non-finite gradients is skipped on the device
        # (found_inf), without a host sync.
        fused=True),
    clip_grad=dict(max_norm=3.0),
    # The EMA teacher is frozen: skip it with one log line, not 300.
    constructor='FrozenModuleOptimWrapperConstructor',
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

max_epochs = 100
warmup_epochs = 10
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingWeightDecay',
        eta_min=0.4,
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# lr above is for 8 GPUs x 64 images; other batch sizes scale linearly.
auto_scale_lr = dict(base_batch_size=512, enable=True)
