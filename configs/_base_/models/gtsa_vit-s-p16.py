# GTSA with a ViT-S/16 student and teacher (arXiv 2304.08014, Sec. 3).
model = dict(
    type='GTSA',
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
        out_type='featmap',
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ]),
    # Projector, shared (by EMA) with the teacher.
    neck=dict(
        type='DenseProjector',
        in_channels=384,
        hid_channels=384,
        out_channels=768,
        num_blocks=2,
        residual=True),
    head=dict(
        type='GTSAHead',
        predictor=dict(
            type='DenseProjector',
            in_channels=768,
            hid_channels=768,
            out_channels=768,
            num_blocks=1,
            residual=False),
        crop_loss=dict(type='NegativeCosineLoss', reduction='sum'),
        pc_loss=dict(
            type='PatchCorrespondenceLoss',
            num_matches=(98, 18),
            cells_threshold=100,
            reduction='sum'),
        feat_stride=16,
        roi_out_size=(10, 4),
        cells_threshold=100),
    rot_head=dict(
        type='RotationHead',
        in_channels=384,
        hid_channels=768,
        bottleneck_channels=128,
        num_classes=4),
    # Teacher momentum 0.996 -> 1 (mmengine's EMA takes 1 - momentum).
    base_momentum=0.004,
    end_momentum=0.0,
    loss_weights=dict(crop=1.0, pc=0.5, rot=0.5),
    # The reference switches the patch-correspondence loss on after epoch 10.
    pc_warmup_epochs=11)
