# DINO ViT-B/16, 100 epochs on COCO train2017 images (no labels): the DINO
# baseline at ViT-B for gtsa_vit-b_coco.py, with facebookresearch/dino's
# ViT-B/16 recipe (its released args) where it differs from ViT-S/16:
# lr 7.5e-4 per 256 images (3e-3 for its 32 GPUs x 32), min lr 2e-6,
# per-parameter gradient clipping at 0.3, no fp16, 32 images per GPU; plus
# the model settings in _base_/models/dino_vit-b-p16.py. Kept from the
# comparison's ViT-S recipe: 100 epochs (DINO's ViT-B ran 400) and the crops
# (DINO's ViT-B used global 0.25-1, local 0.05-0.25 and 10 local crops).
# With 8 GPUs x 32 the lr is scaled to 7.5e-4 (auto_scale_lr).
_base_ = [
    '_base_/models/dino_vit-b-p16.py',
    '_base_/datasets/unlabeled_dino_multicrop.py',
    '_base_/schedules/selfsup_adamw-coslr_100e.py',
    '_base_/default_runtime.py',
]
train_dataloader = dict(
    batch_size=32, dataset=dict(data_root='data/coco/train2017'))

optim_wrapper = dict(
    type='PerParamClipOptimWrapper',  # fp32, as DINO's ViT-B run
    _delete_=True,
    optimizer=dict(
        type='AdamW', lr=7.5e-4 * 1024 / 256, betas=(0.9, 0.999),
        weight_decay=0.04),
    clip_grad=dict(max_norm=0.3),
    constructor='FrozenModuleOptimWrapperConstructor',
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
max_epochs = 100
warmup_epochs = 10
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=2e-6, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs,
         by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
# lr above is for 32 GPUs x 32 images; other batch sizes scale linearly.
auto_scale_lr = dict(base_batch_size=1024, enable=True)
