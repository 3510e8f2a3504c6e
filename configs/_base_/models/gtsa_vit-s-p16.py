# GTSA with a ViT-S/16 student and teacher (arXiv 2304.08014, Sec. 3).
_base_ = ['./vit-s-p16.py']

model = dict(
    type='GTSA',
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
        # The backbone's patch size (one value feeds both).
        feat_stride={{_base_.model.backbone.patch_size}},
        roi_out_size=(10, 4),
        cells_threshold=100),
    rot_head=dict(
        type='RotationHead',
        in_channels=384,
        hid_channels=768,
        bottleneck_channels=128,
        num_classes=4,
        # The reference builds it as a plain nn.Sequential and never
        # re-initialises it: PyTorch's default Linear init (kaiming-uniform).
        init_cfg=None),
    # Teacher momentum 0.996 -> 1 (mmengine's EMA takes 1 - momentum).
    base_momentum=0.004,
    end_momentum=0.0,
    loss_weights=dict(crop=1.0, pc=0.5, rot=0.5),
    # The reference switches the patch-correspondence loss on after epoch 10.
    pc_warmup_epochs=11)
