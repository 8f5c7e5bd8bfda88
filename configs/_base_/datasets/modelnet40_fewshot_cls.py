# Few-shot ModelNet40 (one fold; tools/fewshot.py runs every fold and sets way / shot / fold):
# the fold's way x shot training shapes, validated and tested on its way x 20 test shapes as the
# reference runners do; clouds to the unit sphere, the ModelNet40 sampling of modelnet40_cls.py.
_base_ = ['./modelnet40_cls.py']

fewshot_root = 'data/ModelNetFewshot/'
fewshot = dict(type='ModelNet40FewShotDataset', data_root=fewshot_root, way=5, shot=10, fold=0)
train_dataloader = dict(
    dataset=dict(_delete_=True, split='train', pipeline={{_base_.scale_translate_train_pipeline}},
                 **fewshot))
val_dataloader = dict(
    dataset=dict(_delete_=True, split='test', test_mode=True,
                 pipeline={{_base_.test_pipeline}}, **fewshot))
test_dataloader = val_dataloader
