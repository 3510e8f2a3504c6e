# DINO multi-crop on a folder of unlabeled images (searched recursively):
# 2 global 224 px crops (area 0.4-1) and 8 local 96 px crops (area
# 0.05-0.4), bicubic resizing, as the reference's DataAugmentationDINO.
data_root = 'data/coco/train2017'

# Every crop: horizontal flip p=0.5, colour jitter (0.4, 0.4, 0.2, 0.1)
# p=0.8, grayscale p=0.2.
flip_and_color_jitter = [
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.2,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),  # BGR luma weights
]

# PIL Gaussian blur, radius uniform in [0.1, 2.0]: always on global crop 1,
# p=0.1 on global crop 2 (which is also solarised with p=0.2), p=0.5 on the
# locals.
global1_pipeline = flip_and_color_jitter + [
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=1.0),
]
global2_pipeline = flip_and_color_jitter + [
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]
local_pipeline = flip_and_color_jitter + [
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.5),
]

train_pipeline = [
    dict(type='LoadImageRGB'),
    dict(
        type='DINOMultiCrop',
        # multiples of the backbone's patch size (tools/train.py checks)
        crop_sizes=(224, 96),
        num_crops=(2, 8),
        scales=((0.4, 1.0), (0.05, 0.4)),
        ratio=(3. / 4., 4. / 3.),
        interpolation='bicubic',
        # Group pipelines (globals, locals); the two globals get their own.
        pipelines=[global1_pipeline, local_pipeline],
        view_pipelines=[global1_pipeline, global2_pipeline]),
    dict(type='PackInputs', meta_keys=['img_path']),
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
