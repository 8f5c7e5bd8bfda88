"""A small BERT encoder (inference only) whose ``state_dict`` keys are those of Hugging Face's
``BertModel`` without its pooler (``embeddings.*``, ``encoder.layer.{i}.*``), so BERT weights
(e.g. sentence-transformers' all-MiniLM-L6-v2) load without ``transformers``.

Post-norm layers: ``x = LN(x + attn(x))``, ``x = LN(x + ffn(x))``, exact (erf) GELU, absolute
learnt positions, padding keys masked out of the attention. No dropout: it is only used frozen.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BertEmbeddings(nn.Module):
    """Token ids -> word + position + token-type embeddings, LayerNorm'ed."""

    def __init__(self, vocab_size: int, embed_dims: int, max_positions: int,
                 type_vocab_size: int, layer_norm_eps: float, pad_token_id: int = 0) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embed_dims, padding_idx=pad_token_id)
        self.position_embeddings = nn.Embedding(max_positions, embed_dims)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, embed_dims)
        self.LayerNorm = nn.LayerNorm(embed_dims, eps=layer_norm_eps)

    def forward(self, input_ids: Tensor, token_type_ids: Optional[Tensor] = None) -> Tensor:
        """(B, L) ids [, (B, L) token types, default 0] -> (B, L, C)."""
        length = input_ids.shape[1]
        if length > self.position_embeddings.num_embeddings:
            raise ValueError(f'BertEmbeddings: {length} tokens, but the model has only '
                             f'{self.position_embeddings.num_embeddings} positions')
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(length, device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids) \
            + self.position_embeddings(positions)[None]
        return self.LayerNorm(x)


class _SelfAttention(nn.Module):
    """``attention.self``: the query / key / value projections."""

    def __init__(self, embed_dims: int) -> None:
        super().__init__()
        self.query = nn.Linear(embed_dims, embed_dims)
        self.key = nn.Linear(embed_dims, embed_dims)
        self.value = nn.Linear(embed_dims, embed_dims)


class _DenseNorm(nn.Module):
    """``attention.output`` / ``output``: ``LN(residual + dense(x))``."""

    def __init__(self, in_dims: int, embed_dims: int, layer_norm_eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(in_dims, embed_dims)
        self.LayerNorm = nn.LayerNorm(embed_dims, eps=layer_norm_eps)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(residual + self.dense(x))


class _Attention(nn.Module):

    def __init__(self, embed_dims: int, num_heads: int, layer_norm_eps: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.self = _SelfAttention(embed_dims)
        self.output = _DenseNorm(embed_dims, embed_dims, layer_norm_eps)

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        """(B, L, C) tokens, (B, 1, 1, L) bool (True: attend) -> (B, L, C)."""
        b, n, c = x.shape

        def heads(t: Tensor) -> Tensor:  # (B, L, C) -> (B, H, L, C / H)
            return t.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

        q, k, v = (heads(proj(x)) for proj in (self.self.query, self.self.key, self.self.value))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask,
                                             scale=1 / math.sqrt(c // self.num_heads))
        return self.output(out.transpose(1, 2).reshape(b, n, c), x)


class _Intermediate(nn.Module):

    def __init__(self, embed_dims: int, feedforward_channels: int) -> None:
        super().__init__()
        self.dense = nn.Linear(embed_dims, feedforward_channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.dense(x))  # exact erf GELU, BERT's 'gelu'


class BertLayer(nn.Module):
    """One post-norm encoder layer."""

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 layer_norm_eps: float) -> None:
        super().__init__()
        self.attention = _Attention(embed_dims, num_heads, layer_norm_eps)
        self.intermediate = _Intermediate(embed_dims, feedforward_channels)
        self.output = _DenseNorm(feedforward_channels, embed_dims, layer_norm_eps)

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        """(B, L, C), (B, 1, 1, L) bool -> (B, L, C)."""
        x = self.attention(x, key_mask)
        return self.output(self.intermediate(x), x)


class _Encoder(nn.Module):

    def __init__(self, layers: nn.ModuleList) -> None:
        super().__init__()
        self.layer = layers


class BertEncoder(nn.Module):
    """BERT without its pooler: token ids -> the last layer's token features.

    Args:
        vocab_size, embed_dims, num_layers, num_heads, feedforward_channels: the sizes
            (``vocab_size``, ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``,
            ``intermediate_size`` of a Hugging Face ``config.json``).
        max_positions: ``max_position_embeddings``.
        type_vocab_size: number of token types (segments).
        layer_norm_eps: the LayerNorms' epsilon.
        pad_token_id: the padding token's id.
    """

    def __init__(self, vocab_size: int, embed_dims: int, num_layers: int, num_heads: int,
                 feedforward_channels: int, max_positions: int = 512, type_vocab_size: int = 2,
                 layer_norm_eps: float = 1e-12, pad_token_id: int = 0) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'BertEncoder: embed_dims {embed_dims} is not divisible by '
                             f'num_heads {num_heads}')
        self.embed_dims = embed_dims
        self.embeddings = BertEmbeddings(vocab_size, embed_dims, max_positions, type_vocab_size,
                                         layer_norm_eps, pad_token_id)
        self.encoder = _Encoder(nn.ModuleList(
            BertLayer(embed_dims, num_heads, feedforward_channels, layer_norm_eps)
            for _ in range(num_layers)))

    def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None,
                token_type_ids: Optional[Tensor] = None) -> Tensor:
        """(B, L) token ids, (B, L) attention mask (1: token, 0: padding; default all 1)
        [, (B, L) token types] -> (B, L, C) token features (padding positions hold values that
        depend on nothing but the real tokens; pool them away with the mask)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        key_mask = attention_mask.bool()[:, None, None, :]
        x = self.embeddings(input_ids, token_type_ids)
        for layer in self.encoder.layer:
            x = layer(x, key_mask)
        return x
