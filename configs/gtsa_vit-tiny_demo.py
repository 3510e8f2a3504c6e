# GTSA on a tiny ViT and synthetic scenes: a few minutes on 2 CPU cores.
# Same structure as gtsa_vit-s_coco.py, only sizes are smaller: 96 px
# global and 48 px local crops with 8 px patches give 12x12 and 6x6 maps,
# so the large/small rules (RoIAlign 10x10 vs 4x4, 98 vs 18 matches) apply
# exactly as with 224/96 px crops and 16 px patches.
# Point it at your own images with
#   --cfg-options train_dataloader.dataset.data_root=DIR
_base_ = [
    '_base_/models/gtsa_vit-s-p16.py',
    '_base_/datasets/unlabeled_gtsa_multicrop.py',
    '_base_/cpu_demo.py',
]

embed_dims = 96
# Feeds the backbone's patch_size (and GTSA's feat_stride); tools/train.py
# checks the crop sizes against it. A '__' name stays out of the resolved
# config.
__patch_size = 8
model = dict(
    backbone=dict(
        # A size mmpretrain has no name for: replaces the base's
        # arch='deit-small'.
        arch=dict(
            _delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=3,
            feedforward_channels=4 * embed_dims),
        img_size=96,
        patch_size=__patch_size),
    neck=dict(in_channels=embed_dims, hid_channels=embed_dims,
              out_channels=128),
    head=dict(
        predictor=dict(in_channels=128, hid_channels=128, out_channels=128),
        feat_stride=__patch_size),
    rot_head=dict(in_channels=embed_dims, hid_channels=128,
                  bottleneck_channels=32),
    pc_warmup_epochs=2)

train_pipeline = [
    dict(type='LoadImageRGB'),
    dict(
        type='GTSAMultiCrop',
        crop_sizes=(96, 48),
        num_crops=(2, 8),
        scales=((0.3, 1.0), (0.1, 0.3)),
        min_overlap=0.01,
        pipelines={{_base_.crop_color_pipeline}}),
    dict(
        type='PackInputs',
        algorithm_keys=['crop_boxes', 'crop_rotations'],
        meta_keys=['img_path']),
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

# Kept from the 100-epoch schedule this demo inherited before cpu_demo.py,
# so its resolved config is unchanged (the demo's schedule does not read it).
warmup_epochs = 10
