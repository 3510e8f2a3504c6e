# Mask R-CNN + FPN on a GTSA/DINO-pretrained ViT-S/16, COCO 1x schedule.
#
# Recipe of the GTSA reference (downstream/mmdet, itself from XCiT/BEiT):
# features after blocks 4, 6, 8 and 12 (un-normalised), resampled to strides
# 4/8/16/32 by ViTMultiScaleAdapter, then FPN(256), RPN and the standard RoI
# heads; AdamW lr 5e-5 for 8 GPUs x 1 image, 1000 warm-up iterations, 12
# epochs with steps at 8 and 11, DETR-style multi-scale resize + crop.
#
#   python tools/train.py \
#       configs/downstream/mmdet/mask-rcnn_vit-s_fpn_1x_coco.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN.pth
#   # other batch sizes: add auto_scale_lr.enable=True (base: 8 images)
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['gtsa_plugin'], allow_failed_imports=False)
default_scope = 'mmdet'

embed_dims = 384
model = dict(
    backbone=dict(
        _delete_=True,
        # mmpretrain's ViT resizing the 14x14 position grid to each input's
        # token grid with the "+0.1" scale factors of facebookresearch/dino,
        # as the reference's detection backbone (vit_timm.py) does.
        type='mmpretrain.DINOVisionTransformer',
        arch='deit-small',  # 384 dims, 12 layers, 6 heads
        img_size=224,  # pos_embed grid of the pretraining; resized per input
        patch_size=16,
        qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        drop_path_rate=0.05,
        out_type='featmap',
        out_indices=(3, 5, 7, 11),
        # The reference feeds raw block outputs (no final LayerNorm) to the
        # neck; the checkpoint's ln1.* are reported as unused.
        final_norm=False,
        with_cls_token=True,
        init_cfg=dict(
            type='SSLPretrained',
            checkpoint=None,  # set: model.backbone.init_cfg.checkpoint=PATH
            source='teacher',
            strict=True)),
    neck=[
        dict(
            type='ViTMultiScaleAdapter',
            in_channels=embed_dims,
            scale_factors=(4.0, 2.0, 1.0, 0.5),  # strides 4, 8, 16, 32
            norm_cfg=dict(type='BN')),  # as the reference
        dict(
            type='FPN',
            in_channels=[embed_dims] * 4,
            out_channels=256,
            num_outs=5),
    ])

# DETR / Sparse R-CNN augmentation, as the reference.
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [
                dict(
                    type='RandomChoiceResize',
                    scales=[(480, 1333), (512, 1333), (544, 1333),
                            (576, 1333), (608, 1333), (640, 1333),
                            (672, 1333), (704, 1333), (736, 1333),
                            (768, 1333), (800, 1333)],
                    keep_ratio=True)
            ],
            [
                dict(
                    type='RandomChoiceResize',
                    scales=[(400, 1333), (500, 1333), (600, 1333)],
                    keep_ratio=True),
                dict(
                    type='RandomCrop',
                    crop_type='absolute_range',
                    crop_size=(384, 600),
                    allow_negative_crop=True),
                dict(
                    type='RandomChoiceResize',
                    scales=[(480, 1333), (512, 1333), (544, 1333),
                            (576, 1333), (608, 1333), (640, 1333),
                            (672, 1333), (704, 1333), (736, 1333),
                            (768, 1333), (800, 1333)],
                    keep_ratio=True)
            ],
        ]),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=5e-5,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(
        # No decay on the position embedding, class token and norm layers
        # (every LayerNorm of the ViT and the adapter's BN).
        norm_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0),
        }))

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1),
]

# lr 5e-5 is for 8 GPUs x 1 image.
auto_scale_lr = dict(enable=False, base_batch_size=8)
