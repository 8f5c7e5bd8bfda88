"""BERT's WordPiece tokenizer in plain Python (no ``transformers`` / ``tokenizers``).

The same token ids as Hugging Face's ``BertTokenizer`` / ``BertTokenizerFast`` for the
vocabularies of BERT-style models (e.g. sentence-transformers' all-MiniLM-L6-v2):

1. the special tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) written in the text stay whole;
2. basic tokenisation: control characters dropped and whitespace unified, CJK ideographs
   split into single characters, NFC, lower case and accent stripping (NFD without combining
   marks) as configured, a split on whitespace and around every punctuation character;
3. WordPiece: greedy longest match from the left, continuation pieces prefixed with ``##``;
   a word with no full cover, or longer than ``max_chars_per_word``, becomes [UNK];
4. ``[CLS] tokens [SEP]``, truncated to ``max_length`` tokens, padded to the batch's longest
   sequence with an attention mask.
"""
import json
import os.path as osp
import re
import unicodedata
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

#: BERT's special tokens (the vocabulary must hold them)
SPECIAL_TOKENS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
#: CJK ideograph blocks that BERT splits into single characters
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_whitespace(char: str) -> bool:
    return char in ' \t\n\r' or unicodedata.category(char) == 'Zs'


def _is_control(char: str) -> bool:
    return char not in '\t\n\r' and unicodedata.category(char).startswith('C')


def _is_punctuation(char: str) -> bool:
    """Unicode punctuation, and every non-alphanumeric ASCII printable character ($, ^, `...)."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith('P')


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def load_vocab(path: str) -> Dict[str, int]:
    """A ``vocab.txt`` (one token a line, the id is the line number) -> token -> id."""
    with open(path, encoding='utf-8') as f:
        return {line.rstrip('\n'): i for i, line in enumerate(f)}


class WordPieceTokenizer:
    """Texts -> BERT token ids and attention masks.

    Args:
        vocab: token -> id; must hold the special tokens.
        lower_case: lower-case the words (uncased models).
        strip_accents: remove accents; None: follow ``lower_case`` (BERT's default).
        split_cjk: put spaces around CJK ideographs.
        max_length: most tokens per text, [CLS] and [SEP] included.
        max_chars_per_word: longer words become [UNK].
        lower_case_text: lower-case the whole text first, special tokens included
            (sentence-transformers' ``do_lower_case``).
    """

    def __init__(self,
                 vocab: Dict[str, int],
                 lower_case: bool = True,
                 strip_accents: Optional[bool] = None,
                 split_cjk: bool = True,
                 max_length: int = 512,
                 max_chars_per_word: int = 100,
                 lower_case_text: bool = False) -> None:
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise KeyError(f'WordPieceTokenizer: the vocabulary lacks the special tokens '
                           f'{missing}')
        if max_length < 2:
            raise ValueError(f'WordPieceTokenizer: max_length must be >= 2 ([CLS] and [SEP]), '
                             f'got {max_length}')
        self.vocab = vocab
        self.lower_case = lower_case
        self.strip_accents = lower_case if strip_accents is None else strip_accents
        self.split_cjk = split_cjk
        self.max_length = max_length
        self.max_chars_per_word = max_chars_per_word
        self.lower_case_text = lower_case_text
        self.pad_id, self.unk_id, self.cls_id, self.sep_id = (
            vocab[t] for t in ('[PAD]', '[UNK]', '[CLS]', '[SEP]'))
        self._special_split = re.compile('(' + '|'.join(map(re.escape, SPECIAL_TOKENS)) + ')')

    @classmethod
    def from_folder(cls, folder: str, max_length: int,
                    lower_case_text: bool = False) -> 'WordPieceTokenizer':
        """The tokenizer of a Hugging Face BERT folder: ``vocab.txt`` and the options of
        ``tokenizer_config.json`` (``do_lower_case``, ``strip_accents``,
        ``tokenize_chinese_chars``; BERT's defaults where the file or a key is absent).
        ``lower_case_text``: also lower-case the whole text first (sentence-transformers'
        ``do_lower_case``, which lower-cases special tokens written in the text too)."""
        cfg_path = osp.join(folder, 'tokenizer_config.json')
        cfg = {}
        if osp.isfile(cfg_path):
            with open(cfg_path, encoding='utf-8') as f:
                cfg = json.load(f)
        return cls(load_vocab(osp.join(folder, 'vocab.txt')),
                   lower_case=bool(cfg.get('do_lower_case', True)),
                   strip_accents=cfg.get('strip_accents'),
                   split_cjk=bool(cfg.get('tokenize_chinese_chars', True)),
                   max_length=max_length, lower_case_text=lower_case_text)

    # ------------------------------------------------------------------ words
    def _clean(self, text: str) -> str:
        """Control characters and NUL / U+FFFD dropped, whitespace -> ' ', CJK spaced."""
        out = []
        for char in text:
            cp = ord(char)
            if cp == 0 or cp == 0xFFFD or _is_control(char):
                continue
            if _is_whitespace(char):
                out.append(' ')
            elif self.split_cjk and _is_cjk(cp):
                out.append(f' {char} ')
            else:
                out.append(char)
        return ''.join(out)

    def basic_tokenize(self, text: str) -> List[str]:
        """One text (no special tokens) -> words and punctuation characters."""
        words = []
        for word in unicodedata.normalize('NFC', self._clean(text)).split():
            if self.lower_case:
                word = word.lower()
            if self.strip_accents:
                word = ''.join(c for c in unicodedata.normalize('NFD', word)
                               if unicodedata.category(c) != 'Mn')
            piece = []
            for char in word:
                if _is_punctuation(char):
                    words += [''.join(piece), char] if piece else [char]
                    piece = []
                else:
                    piece.append(char)
            if piece:
                words.append(''.join(piece))
        return words

    def wordpiece(self, word: str) -> List[int]:
        """One word -> the ids of its greedy longest-match pieces, or [UNK]."""
        if len(word) > self.max_chars_per_word:
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else f'##{word[start:end]}'
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    start = end
                    break
            else:  # no piece covers word[start:]
                return [self.unk_id]
        return ids

    def encode(self, text: str) -> List[int]:
        """One text -> ``[CLS] ids [SEP]``, at most ``max_length`` ids."""
        if self.lower_case_text:
            text = text.lower()
        ids = []
        for i, chunk in enumerate(self._special_split.split(text)):
            if i % 2:  # a special token written in the text
                ids.append(self.vocab[chunk])
            else:
                for word in self.basic_tokenize(chunk):
                    ids += self.wordpiece(word)
        return [self.cls_id] + ids[:self.max_length - 2] + [self.sep_id]

    def __call__(self, texts: Sequence[str]) -> Tuple[Tensor, Tensor]:
        """B strings -> (B, L) LongTensor token ids and (B, L) LongTensor attention mask (1 for
        a token, 0 for padding); L = the longest encoded text."""
        encoded = [self.encode(t) for t in texts]
        length = max((len(e) for e in encoded), default=2)
        ids = torch.full((len(encoded), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), length), dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, :len(e)] = torch.tensor(e, dtype=torch.long)
            mask[row, :len(e)] = 1
        return ids, mask
