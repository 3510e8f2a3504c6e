# DINO with a ViT-S/16 student and teacher (Caron et al. 2021; the reference
# main_dino.py defaults for vit_small): 65536 prototypes, weight-normalised
# last layer with its norm fixed, teacher momentum 0.996 -> 1 (cosine),
# student temperature 0.1, teacher 0.04, centre momentum 0.9, last layer
# frozen during the first epoch.
_base_ = ['./vit-s-p16.py']

model = dict(
    type='DINO',
    # DINO's head reads the class token.
    backbone=dict(out_type='cls_token'),
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
