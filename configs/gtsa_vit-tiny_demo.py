# GTSA on a tiny ViT and synthetic scenes: a few minutes on 2 CPU cores.
# Same structure as gtsa_vit-s_coco.py, only sizes are smaller: 96 px
# global and 48 px local crops with 8 px patches give 12x12 and 6x6 maps,
# so the large/small rules (RoIAlign 10x10 vs 4x4, 98 vs 18 matches) apply
# exactly as with 224/96 px crops and 16 px patches.
# Point it at your own images with
#   --cfg-options train_dataloader.dataset.data_root=DIR
_base_ = [
    '_base_/models/gtsa_vit-s-p16.py',
    '_base_/datasets/unlabeled_gtsa_multicrop.py',
    '_base_/schedules/selfsup_adamw-coslr_100e.py',
    '_base_/default_runtime.py',
]

embed_dims = 96
model = dict(
    backbone=dict(
        arch=dict(
            embed_dims=embed_dims, num_layers=4, num_heads=3,
            feedforward_channels=4 * embed_dims),
        img_size=96,
        patch_size=8),
    neck=dict(in_channels=embed_dims, hid_channels=embed_dims,
              out_channels=128),
    head=dict(
        predictor=dict(in_channels=128, hid_channels=128, out_channels=128),
        feat_stride=8),
    rot_head=dict(in_channels=embed_dims, hid_channels=128,
                  bottleneck_channels=32),
    pc_warmup_epochs=2)

train_pipeline = [
    dict(type='LoadImageRGB'),
    dict(
        type='GTSAMultiCrop',
        crop_sizes=(96, 48),
        num_crops=(2, 8),
        scales=((0.3, 1.0), (0.1, 0.3)),
        min_overlap=0.01,
        size_divisor=8,
        pipelines={{_base_.crop_color_pipeline}}),
    dict(
        type='PackInputs',
        algorithm_keys=['crop_boxes', 'crop_rotations'],
        meta_keys=['img_path']),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    pin_memory=False,
    dataset=dict(
        data_root='data/synthetic/unlabeled',
        # Generated on first use when the folder is missing.
        synthetic_if_missing=dict(
            num_images=160, seed=0, image_size=(256, 192)),
        pipeline=train_pipeline))

max_epochs = 12
optim_wrapper = dict(
    type='PerParamClipOptimWrapper',
    _delete_=True,
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
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=16, enable=False)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=4, max_keep_ckpts=2))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
