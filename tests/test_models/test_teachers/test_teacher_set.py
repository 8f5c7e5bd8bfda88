import pytest
import torch
from mmengine.model import BaseModule

from mmdet3d.registry import MODELS
from pt3kd_mm.models.teachers import TeacherSet

BACKBONE = dict(type='PointPatchTransformer', embed_dims=32, depth=1, num_heads=2,
                num_groups=16, group_size=8)


@pytest.fixture
def ckpt(tmp_path):
    src = MODELS.build(BACKBONE)
    src.init_weights()
    path = tmp_path / 'teacher.pth'
    torch.save(src.state_dict(), path)
    return str(path)


def cfg(path):
    return dict(type='ConfigModelTeacher', model=BACKBONE, checkpoint=path)


class Distiller(BaseModule):

    def __init__(self, cfgs, lazy):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.teachers = TeacherSet(cfgs, lazy=lazy)


def test_eager_set_builds_at_once_and_fails_on_a_missing_file(ckpt, tmp_path):
    model = Distiller(dict(a=cfg(ckpt)), lazy=False)
    assert model.teachers.built == {'a'}
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        Distiller(dict(a=cfg(str(tmp_path / 'missing.pth'))), lazy=False)


def test_lazy_set_builds_on_first_use_where_the_model_is(ckpt):
    model = Distiller(dict(a=cfg(ckpt), b=None), lazy=True)
    assert model.teachers.built == set()
    # nothing of the set in the state dict or the parameters, before and after the build
    keys = set(model.state_dict())
    assert keys == {'linear.weight', 'linear.bias'}
    model.to(torch.float64)  # the probe moves; a teacher built later ...
    teacher = model.teachers['a']
    assert model.teachers.built == {'a'}
    assert model.teachers['a'] is teacher  # built once
    assert set(model.state_dict()) == keys
    assert len(list(model.parameters())) == 2
    # ... is where the model is (device); moving the model moves the built teacher
    model.to(torch.float32)
    assert next(teacher.network.parameters()).dtype == torch.float32
    model.to(torch.float64)
    assert next(teacher.network.parameters()).dtype == torch.float64
    # frozen and in eval after model.train()
    model.train()
    assert not teacher.network.training
    assert all(not p.requires_grad for p in teacher.network.parameters())


def test_errors_name_the_config_key(ckpt):
    teachers = TeacherSet(dict(img=None), lazy=True)
    with pytest.raises(ValueError, match=r'model\.img_teacher is not set'):
        teachers['img']
    with pytest.raises(KeyError, match="no teacher named 'text'"):
        teachers['text']
    not_a_teacher = TeacherSet(dict(x=BACKBONE), lazy=True)
    with pytest.raises(TypeError, match='not a FrozenTeacher'):
        not_a_teacher['x']
