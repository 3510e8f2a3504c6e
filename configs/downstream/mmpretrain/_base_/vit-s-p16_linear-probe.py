# Linear probing of a frozen GTSA/DINO-pretrained ViT-S/16 (MAE protocol, as
# the GTSA reference's main_linprobe.py): class token after the final
# LayerNorm -> BatchNorm without affine -> linear head; LARS, lr 0.1 x
# batch / 256, no weight decay, 90 epochs with 10 warm-up epochs and cosine
# decay; 8 GPUs x 512 images.
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
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

# ---------------------------------------------------------------- model
num_layers = 12
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='deit-small',  # 384 dims, 12 layers, 6 heads
        img_size=224,
        patch_size=16,
        qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        # all blocks, the embeddings and the final norm are frozen
        frozen_stages=num_layers,
        out_type='cls_token',
        final_norm=True,
        with_cls_token=True,
        init_cfg=dict(
            type='SSLPretrained',
            checkpoint=None,  # set: model.backbone.init_cfg.checkpoint=PATH
            source='teacher',
            strict=True)),
    neck=dict(type='ClsBatchNormNeck', input_features=embed_dims),
    head=dict(
        type='LinearClsHead',
        # num_classes: from the data base (data_preprocessor.num_classes)
        in_channels=embed_dims,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.01)]))

# ------------------------------------------------------------- schedule
# lr = 0.1 x 4096 / 256; biases skip LARS' layer adaptation as in MAE's LARS.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=1.6, weight_decay=0.0, momentum=0.9),
    paramwise_cfg=dict(custom_keys={'.bias': dict(lars_exclude=True)}))

max_epochs = 90
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
        eta_min=0.0,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=4096)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
