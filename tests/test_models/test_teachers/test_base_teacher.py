import pytest
import torch
from mmengine.model import BaseModule

from mmdet3d.registry import MODELS

BACKBONE = dict(type='PointPatchTransformer', embed_dims=32, depth=2, num_heads=2,
                num_groups=16, group_size=8)


class Student(BaseModule):

    def __init__(self, teacher):
        super().__init__()
        self.linear = torch.nn.Linear(32, 32)
        self.teacher = MODELS.build(teacher)


@pytest.fixture
def ckpt(tmp_path):
    src = MODELS.build(BACKBONE)
    src.init_weights()
    path = tmp_path / 'teacher.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()}},
               path)
    return src.eval(), str(path)


def teacher_cfg(path, **kw):
    return dict(type='ConfigModelTeacher', model=BACKBONE, checkpoint=path, prefix='backbone.',
                **kw)


def test_teacher_contract(ckpt):
    src, path = ckpt
    student = Student(teacher_cfg(path))
    teacher = student.teacher
    # weights from the file, frozen, outside the student's parameters and state dict
    for k, v in src.state_dict().items():
        assert torch.equal(teacher.network.state_dict()[k], v)
    assert all(not p.requires_grad for p in teacher.network.parameters())
    assert not any(n.startswith('teacher') for n, _ in student.named_parameters())
    assert not any(k.startswith('teacher') for k in student.state_dict())
    # stays in eval after the runner's model.train(), init_weights does not touch it
    student.train()
    assert not teacher.training and not teacher.network.training
    before = {k: v.clone() for k, v in teacher.network.state_dict().items()}
    student.init_weights()
    assert all(torch.equal(before[k], v) for k, v in teacher.network.state_dict().items())
    # no-grad forward, same output as the source model
    pts = torch.rand(2, 64, 3, requires_grad=True)
    out = teacher(pts)
    assert not out['tokens'].requires_grad
    torch.testing.assert_close(out['tokens'], src(pts)['tokens'])
    # moves with the student
    student.to(torch.float64)
    assert next(teacher.network.parameters()).dtype == torch.float64


def test_optimizer_steps_leave_teacher_bit_identical(ckpt):
    _, path = ckpt
    student = Student(teacher_cfg(path))
    before = {k: v.clone() for k, v in student.teacher.network.state_dict().items()}
    opt = torch.optim.AdamW(student.parameters(), lr=0.1)
    for _ in range(3):
        target = student.teacher(torch.rand(2, 64, 3))['tokens']
        loss = (student.linear(target) - 1).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(torch.equal(before[k], v) for k, v in student.teacher.network.state_dict().items())


def test_missing_checkpoint_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"teacher checkpoint '.*nope.pth' does not exist"
                       r'\. Train the model'):
        MODELS.build(teacher_cfg(str(tmp_path / 'nope.pth')))


def test_mismatched_keys_error(ckpt, tmp_path):
    _, path = ckpt
    state = torch.load(path, weights_only=True)['state_dict']
    state.pop('backbone.norm.weight')
    bad = tmp_path / 'bad.pth'
    torch.save(state, bad)
    with pytest.raises(KeyError, match=r"missing keys \['norm.weight'\]"):
        MODELS.build(teacher_cfg(str(bad)))
    with pytest.raises(KeyError, match="no keys under the prefix 'head.'"):
        MODELS.build(teacher_cfg(path, ) | dict(prefix='head.'))
