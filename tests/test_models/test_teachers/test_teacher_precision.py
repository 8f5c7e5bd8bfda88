"""Frozen teachers in reduced precision: float32 outputs close to fp32, untouched frozen
weights, clear errors, no effect on the student's loss path, fp32 sub-modules."""
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.models import VisionTransformer

from mmdet3d.registry import MODELS
from pt3kd_mm.utils import precision as precision_mod
from pt3kd_mm.models.teachers import base_teacher
from pt3kd_mm.testing import TINY_CLIP_CFG, write_random_clip

BACKBONE = dict(type='PointPatchTransformer', embed_dims=32, depth=2, num_heads=2,
                num_groups=16, group_size=8)
TINY_VIT = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
# the tolerance of benchmarks/bench_teacher_precision.py: per-sample cosine to fp32
MEAN_COS, MIN_COS = 0.999, 0.995


@pytest.fixture(autouse=True)
def quiet_emulation_warning():
    """bf16 is emulated on CPUs without bf16 units: the teacher warns, which is tested once
    below; elsewhere it is noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*bf16 is emulated.*')
        yield


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    src = MODELS.build(BACKBONE)
    src.init_weights()
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in src.state_dict().items()}},
               path)
    return str(path)


def teacher_cfg(path, **kw):
    return dict(type='ConfigModelTeacher', model=BACKBONE, checkpoint=path, prefix='backbone.',
                **kw)


def points(n=4, seed=0):
    return torch.rand(n, 64, 3, generator=torch.Generator().manual_seed(seed))


def per_sample_cos(a, b):
    return F.cosine_similarity(a.flatten(1).double(), b.flatten(1).double(), dim=1)


class Student(BaseModule):

    def __init__(self, teacher):
        super().__init__()
        self.linear = torch.nn.Linear(32, 32)
        self.teacher = MODELS.build(teacher)

    def loss(self, pts):
        target = self.teacher(pts)['tokens']
        return (self.linear(target) - 1).pow(2).mean(), target


def test_bf16_output_is_float32_and_close_to_fp32(ckpt):
    fp32 = MODELS.build(teacher_cfg(ckpt))
    assert fp32.precision == 'fp32'  # a wrapped model's default: it may take discrete decisions
    bf16 = MODELS.build(teacher_cfg(ckpt, precision='bf16'))
    pts = points()
    ref, out = fp32(pts)['tokens'], bf16(pts)['tokens']
    assert out.dtype == torch.float32 and not out.requires_grad
    assert not torch.equal(out, ref)  # bf16 really ran
    cos = per_sample_cos(out, ref)
    assert cos.mean() >= MEAN_COS and cos.min() >= MIN_COS, cos
    # the matrix products inside ran in bf16
    seen = []
    hook = bf16.network.patch_embed.second_fc2.register_forward_hook(
        lambda m, i, o: seen.append(o.dtype))
    bf16(pts)
    hook.remove()
    assert seen == [torch.bfloat16]


def test_weights_stay_bit_identical_fp32_and_frozen(ckpt):
    student = Student(teacher_cfg(ckpt, precision='bf16'))
    network = student.teacher.network
    before = {k: v.clone() for k, v in network.state_dict().items()}
    opt = torch.optim.AdamW(student.parameters(), lr=0.1)
    for _ in range(3):
        loss, _ = student.loss(points())
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in network.parameters())
    assert not any(n.startswith('teacher') for n, _ in student.named_parameters())


def test_student_loss_path_unaffected(ckpt):
    """A bf16 teacher changes only the target's rounding: the student's loss, its graph and
    gradients stay float32 and close to those with an fp32 teacher."""
    torch.manual_seed(0)
    s32 = Student(teacher_cfg(ckpt))
    s16 = Student(teacher_cfg(ckpt, precision='bf16'))
    s16.linear.load_state_dict(s32.linear.state_dict())
    pts = points()
    losses = []
    for student in (s32, s16):
        loss, target = student.loss(pts)
        assert loss.dtype == target.dtype == torch.float32 and not target.requires_grad
        student.zero_grad()
        loss.backward()
        assert student.linear.weight.grad.dtype == torch.float32
        losses.append(loss.item())
    torch.testing.assert_close(losses[1], losses[0], rtol=2e-2, atol=0)
    torch.testing.assert_close(s16.linear.weight.grad, s32.linear.weight.grad, rtol=5e-2,
                               atol=5e-3)


def test_fp32_teacher_ignores_a_surrounding_autocast(ckpt):
    """--amp runs the student's forward (and the teacher call in it) under bf16 autocast; an
    fp32 teacher must still compute in fp32."""
    teacher = MODELS.build(teacher_cfg(ckpt))
    pts = points()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = teacher(pts)['tokens']
        from_bf16 = teacher(pts.bfloat16())['tokens']  # low-precision input: cast to fp32
        after = F.linear(torch.ones(2, 2), torch.ones(2, 2))
    assert after.dtype == torch.bfloat16  # the surrounding autocast is back after the teacher
    assert out.dtype == from_bf16.dtype == torch.float32
    torch.testing.assert_close(out, teacher(pts)['tokens'], rtol=0, atol=0)
    torch.testing.assert_close(from_bf16, teacher(pts.bfloat16().float())['tokens'], rtol=0,
                               atol=0)


def test_bad_precision_names_and_cpu_fp16(ckpt):
    with pytest.raises(ValueError, match=r"ConfigModelTeacher: precision must be one of "
                                         r"\('fp32', 'bf16', 'fp16', 'auto'\), got 'float16'"):
        MODELS.build(teacher_cfg(ckpt, precision='float16'))
    teacher = MODELS.build(teacher_cfg(ckpt, precision='fp16'))
    with pytest.raises(ValueError, match="precision='fp16' is not supported on CPU.*use 'auto'"):
        teacher(points())


def test_auto_means_bf16_only_where_the_cpu_has_bf16_units(ckpt, monkeypatch):
    teacher = MODELS.build(teacher_cfg(ckpt, precision='auto'))
    cpu = torch.device('cpu')
    monkeypatch.setattr(precision_mod, 'cpu_has_native_bf16', lambda: False)
    assert teacher.compute_dtype(cpu) is None
    ref = MODELS.build(teacher_cfg(ckpt))(points())['tokens']
    torch.testing.assert_close(teacher(points())['tokens'], ref, rtol=0, atol=0)
    monkeypatch.setattr(precision_mod, 'cpu_has_native_bf16', lambda: True)
    assert teacher.compute_dtype(cpu) == torch.bfloat16
    assert precision_mod.autocast_dtype('fp32', cpu) is None


def test_emulated_bf16_warns_once(ckpt, monkeypatch):
    monkeypatch.setattr(base_teacher, 'cpu_has_native_bf16', lambda: False)
    teacher = MODELS.build(teacher_cfg(ckpt, precision='bf16'))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        teacher(points(2))
        teacher(points(2))
    msgs = [str(w.message) for w in caught if 'emulated' in str(w.message)]
    assert len(msgs) == 1 and "'auto' would use fp32 here" in msgs[0]


def test_fp32_modules(ckpt):
    teacher = MODELS.build(teacher_cfg(ckpt, precision='bf16', fp32_modules=['patch_embed']))
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen[name] = output.dtype
        return hook

    for name in ('patch_embed.second_fc2', 'transformer.blocks.0.attn.qkv'):
        teacher.network.get_submodule(name).register_forward_hook(record(name))
    out = teacher(points())['tokens']
    assert out.dtype == torch.float32
    assert seen == {'patch_embed.second_fc2': torch.float32,
                    'transformer.blocks.0.attn.qkv': torch.bfloat16}
    # a deep copy keeps the fp32 sub-module bound to the copy's own weights
    network = copy.deepcopy(teacher.network)
    assert network.patch_embed.forward.__self__ is network.patch_embed
    with pytest.raises(ValueError, match=r"fp32_modules names 'nope', which is no sub-module "
                                         r"of PointPatchTransformer \(its children: \["):
        MODELS.build(teacher_cfg(ckpt, fp32_modules=['nope']))


def test_image_and_text_teachers_pass_precision(tmp_path):
    clip = write_random_clip(str(tmp_path / 'clip.pth'), TINY_CLIP_CFG)
    torch.manual_seed(0)
    vit_path = str(tmp_path / 'vit.pth')
    torch.save(VisionTransformer(arch=TINY_VIT, img_size=32, patch_size=8).state_dict(),
               vit_path)
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255
    texts = ['a photo of a chair', 'an airplane', 'a lamp']
    cases = [
        (dict(type='ViTImageTeacher', checkpoint=vit_path, arch=TINY_VIT, img_size=32,
              patch_size=8), images),
        (dict(type='CLIPImageTeacher', checkpoint=clip, model_cfg=TINY_CLIP_CFG), images),
        (dict(type='CLIPTextTeacher', checkpoint=clip, model_cfg=TINY_CLIP_CFG), texts),
    ]
    for cfg, inputs in cases:
        # the image / text encoders default to 'auto' (within the tolerance in bf16 and fp16)
        assert MODELS.build(cfg).precision == 'auto'
        ref = MODELS.build(dict(cfg, precision='fp32'))(inputs)
        teacher = MODELS.build(dict(cfg, precision='bf16'))
        assert teacher.precision == 'bf16'
        out = teacher(inputs)
        assert out.dtype == torch.float32 and out.shape == ref.shape
        cos = per_sample_cos(out, ref)
        assert cos.mean() >= MEAN_COS and cos.min() >= MIN_COS, (cfg['type'], cos)
