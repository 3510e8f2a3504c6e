# DINO on a tiny ViT and synthetic scenes: minutes on 2 CPU cores.
# Same structure as dino_vit-s_coco.py (3-layer MLP head, L2-normalised
# bottleneck, weight-normalised prototypes, centring, EMA teacher, frozen
# last layer in epoch 0), only sizes are smaller: 96 px global and 48 px
# local crops with 8 px patches, 1024 prototypes, hidden width 256.
# Point it at your own images with
#   --cfg-options train_dataloader.dataset.data_root=DIR
_base_ = [
    '_base_/models/dino_vit-s-p16.py',
    '_base_/datasets/unlabeled_dino_multicrop.py',
    '_base_/cpu_demo.py',
]

embed_dims = 96
out_channels = 1024
model = dict(
    backbone=dict(
        # A size mmpretrain has no name for: replaces the base's
        # arch='deit-small'.
        arch=dict(
            _delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=3,
            feedforward_channels=4 * embed_dims),
        img_size=96,
        patch_size=8),  # tools/train.py checks the crop sizes against it
    neck=dict(in_channels=embed_dims, hid_channels=256,
              bottleneck_channels=64, out_channels=out_channels),
    head=dict(out_channels=out_channels))

train_pipeline = [
    dict(type='LoadImageRGB'),
    dict(
        type='DINOMultiCrop',
        crop_sizes=(96, 48),
        num_crops=(2, 8),
        scales=((0.4, 1.0), (0.05, 0.4)),
        interpolation='bicubic',
        pipelines=[{{_base_.global1_pipeline}}, {{_base_.local_pipeline}}],
        view_pipelines=[{{_base_.global1_pipeline}},
                        {{_base_.global2_pipeline}}]),
    dict(type='PackInputs', meta_keys=['img_path']),
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
