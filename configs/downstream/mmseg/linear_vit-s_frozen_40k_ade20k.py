# Linear segmentation probe on a frozen GTSA/DINO-pretrained ViT-S/16,
# ADE20K, 40k iterations: the toolkit-standard twin of
# tools/analysis/dense_probe.py's linear probe.
#
# The backbone (inherited from the Semantic FPN config) is frozen
# (frozen_stages = all 12 blocks, eval mode, final LayerNorm on) and gives
# its last block's normed patch tokens, one stride-16 map; the head is a
# single 1x1 convolution to the 150 classes (mmseg's FCNHead with no convs,
# DINOv2's "linear" setting without its BN), upsampled bilinearly to the
# label resolution by mmseg. Scored with IoUMetric, as every mmseg config.
#
#   python tools/train.py \
#       configs/downstream/mmseg/linear_vit-s_frozen_40k_ade20k.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=PRETRAIN.pth
_base_ = ['./semfpn_vit-s_40k_ade20k.py']

num_layers = 12
model = dict(
    backbone=dict(
        out_indices=(num_layers - 1, ),
        final_norm=True,
        frozen_stages=num_layers),
    neck=None,
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels={{_base_.embed_dims}},
        channels={{_base_.embed_dims}},
        num_convs=0,
        concat_input=False,
        in_index=0,
        dropout_ratio=0.0,
        num_classes=150,
        norm_cfg=None,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))

# Only the 1x1 convolution learns: a larger learning rate than fine-tuning.
optim_wrapper = dict(
    optimizer=dict(lr=1e-3, weight_decay=1e-4))
