# iNaturalist 2019 (1010 species), the GTSA paper's classification
# benchmark, read from its official JSON files by gtsa_plugin's INat2019:
#   data/inat2019/{train2019.json, val2019.json, train_val2019/...}
# Loaders, normalisation and metrics as imagenet-folder.py.
_base_ = ['./imagenet-folder.py']

data_root = 'data/inat2019/'
data_preprocessor = dict(num_classes=1010)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='INat2019',
        data_root=data_root,
        ann_file='train2019.json'))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='INat2019',
        data_root=data_root,
        ann_file='val2019.json',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader
