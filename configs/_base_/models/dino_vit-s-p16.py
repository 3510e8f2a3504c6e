# DINO with a ViT-S/16 student and teacher (Caron et al. 2021; the reference
# main_dino.py defaults for vit_small): 65536 prototypes, weight-normalised
# last layer with its norm fixed, teacher momentum 0.996 -> 1 (cosine),
# student temperature 0.1, teacher 0.04, centre momentum 0.9, last layer
# frozen during the first epoch.
model = dict(
    type='DINO',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='VisionTransformer',
        arch=dict(
            embed_dims=384, num_layers=12, num_heads=6,
            feedforward_channels=1536),
        img_size=224,
        patch_size=16,
        qkv_bias=True,
        drop_path_rate=0.1,
        norm_cfg=dict(type='LN', eps=1e-6),
        final_norm=True,
        with_cls_token=True,
        out_type='cls_token',
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ]),
    # Projection head, shared (by EMA) with the teacher.
    neck=dict(
        type='DINONeck',
        in_channels=384,
        hid_channels=2048,
        bottleneck_channels=256,
        out_channels=65536,
        num_layers=3,
        norm_last_layer=True),
    # The loss: centring, sharpening, cross-entropy over view pairs.
    head=dict(
        type='DINOHead',
        out_channels=65536,
        student_temp=0.1,
        teacher_temp=0.04,
        warmup_teacher_temp=0.04,
        warmup_teacher_temp_epochs=0,
        center_momentum=0.9),
    # Teacher momentum 0.996 -> 1 (mmengine's EMA takes 1 - momentum).
    base_momentum=0.004,
    end_momentum=0.0,
    freeze_last_layer=1)

# The teacher is updated after the optimiser step inside DINO.train_step,
# which mmengine's default DDP wrapper would bypass.
model_wrapper_cfg = dict(
    type='DINODistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)
