# Linear probe of a frozen GTSA/DINO ViT-S/16 on iNaturalist 2019.
#   data/inat2019/{train2019.json, val2019.json, train_val2019/...}
_base_ = ['./_base_/vit-s-p16_linear-probe.py']
custom_imports = dict(
    imports=['gtsa_plugin', 'gtsa_plugin.datasets.inat'],
    allow_failed_imports=False)

num_classes = 1010
data_root = 'data/inat2019/'
data_preprocessor = dict(num_classes=num_classes)
model = dict(head=dict(num_classes=num_classes))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='INat2019',
        data_root=data_root,
        ann_file='train2019.json',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='INat2019',
        data_root=data_root,
        ann_file='val2019.json',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
