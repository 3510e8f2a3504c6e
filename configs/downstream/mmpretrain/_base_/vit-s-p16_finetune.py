# End-to-end fine-tuning of a GTSA/DINO-pretrained ViT-S/16 (recipe of the
# GTSA reference's iNat19 fine-tuning, MAE-style): global average pooling of
# the patch tokens -> LayerNorm -> linear head; AdamW with layer-wise lr
# decay 0.65, weight decay 0.05 (none on 1-D parameters, pos_embed and
# cls_token), drop path 0.1, RandAugment (rand-m9-mstd0.5-inc1), mixup 0.8 /
# cutmix 1.0 with label smoothing 0.1, random erasing 0.25, 300 epochs with
# 5 warm-up epochs and a cosine decay to 1e-6; 8 GPUs x 128 images.
# Model, train pipeline and schedule only: a config adds a data base
# (imagenet-folder.py, inat2019.py) and joins the two (batch size,
# train_pipeline, number of classes). The join sits in each config because
# mmengine refuses a key set by two sibling bases (train_dataloader here and
# there).
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['gtsa_plugin'], allow_failed_imports=False)
default_scope = 'mmpretrain'

embed_dims = 384

# ----------------------------------------------------------------- data
bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',  # timm's rand-m9-mstd0.5-inc1
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(
        type='RandomErasing',  # timm's reprob 0.25, remode 'pixel'
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]

# ---------------------------------------------------------------- model
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',  # 384 dims, 12 layers, 6 heads
        img_size=224,
        patch_size=16,
        qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        drop_path_rate=0.1,
        # mean of the patch tokens (no final norm), then LayerNorm ``ln2``
        out_type='avg_featmap',
        final_norm=False,
        with_cls_token=True,
        init_cfg=dict(
            type='SSLPretrained',
            checkpoint=None,  # set: model.backbone.init_cfg.checkpoint=PATH
            source='teacher',
            strict=True,
            # ln2 (the pooled-feature norm) exists only downstream
            allow_missing=['ln2.'])),
    neck=None,
    head=dict(
        type='LinearClsHead',
        # num_classes: from the data base (data_preprocessor.num_classes)
        in_channels=embed_dims,
        # with mixup/cutmix targets this is timm's smoothed soft-target CE
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]))

# ------------------------------------------------------------- schedule
# lr 1.4e-4 for 8 x 128 images: the absolute lr the reference's
# main_finetune.py uses (its --lr default wins over --blr).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1.4e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        flat_decay_mult=0.0,  # biases and norms
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }))

max_epochs = 300
warmup_epochs = 5
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
        # min lr 1e-6 scaled by each layer's decay factor, as the
        # reference; an absolute eta_min would *raise* the lr of the lowest
        # layers, whose decayed lr is below 1e-6.
        eta_min_ratio=1e-6 / 1.4e-4,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
