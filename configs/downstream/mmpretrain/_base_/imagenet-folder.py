# ImageNet-style class folders (data/imagenet/{train,val}/<class>/*.jpg)
# for the classification recipes: input normalisation, evaluation pipeline,
# loaders and top-1/top-5 accuracy. A config combines it with a recipe
# (vit-s-p16_finetune.py, vit-s-p16_linear-probe.py) and sets the batch
# size, the recipe's train_pipeline and the head's number of classes.
data_preprocessor = dict(
    num_classes=1000,  # one-hot targets for mixup / cutmix
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=256,  # 224 / 0.875
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

data_root = 'data/imagenet/'
train_dataloader = dict(
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CustomDataset',  # one sub-folder per class
        data_root=data_root,
        data_prefix='train'))
val_dataloader = dict(
    num_workers=8,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
