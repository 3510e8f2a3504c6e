# GTSA multi-crop on a folder of unlabeled images (searched recursively).
data_root = 'data/coco/train2017'

# Photometric augmentation of every crop (SimCLR/BYOL style, as the
# reference): colour jitter p=0.8, grayscale p=0.2, Gaussian blur p=0.2.
crop_color_pipeline = [
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.8,
                contrast=0.8,
                saturation=0.8,
                hue=0.2)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(
        type='GaussianBlur',
        magnitude_range=(0.1, 2.0),
        magnitude_std='inf',
        prob=0.2),
]

train_pipeline = [
    dict(type='LoadImageRGB'),
    dict(
        type='GTSAMultiCrop',
        # multiples of the backbone's patch size (tools/train.py checks)
        crop_sizes=(224, 96),
        num_crops=(2, 8),
        scales=((0.3, 1.0), (0.1, 0.3)),
        ratio=(3. / 4., 4. / 3.),
        min_overlap=0.01,
        global_overlap_factor=2.0,
        pipelines=crop_color_pipeline),
    dict(
        type='PackInputs',
        algorithm_keys=['crop_boxes', 'crop_rotations'],
        meta_keys=['img_path']),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='UnlabeledImageFolder',
        data_root=data_root,
        strict=False,
        pipeline=train_pipeline))
