"""ACT stage 1: a dVAE around a frozen, prompt-tuned 2D transformer (ACT, Dong et al.,
ICLR 2023; reference code RunpeiDong/ACT)."""
import math
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..layers.dgcnn import TokenDGCNN
from ..layers.folding_decoder import FoldingGroupDecoder
from ..layers.patch_embed import MiniPointNetEmbed, center_pos_embed
from ...ops import group_points
from ..losses.chamfer_loss import chamfer_distance_l1


def kl_to_uniform(logits: Tensor) -> Tensor:
    """KL(uniform || mean code distribution) per cloud, averaged over the batch: the
    reference's ``F.kl_div(log q_mean, log u, reduction='batchmean', log_target=True)``
    = mean_b sum_k u (log u - log q_mean[b, k]) with u = 1 / num_tokens.

    Args:
        logits: (B, G, num_tokens).

    Returns:
        scalar.
    """
    mean_q = F.softmax(logits, dim=-1).mean(dim=1)  # (B, num_tokens)
    log_q = torch.log(mean_q.clamp_min(1e-20))
    num_tokens = logits.shape[-1]
    return (-math.log(num_tokens) - log_q).sum(-1).div(num_tokens).mean()


@MODELS.register_module()
class ACTAutoencoder(BaseModel):
    """Point tokens -> DGCNN -> code logits -> Gumbel-softmax -> codebook -> Linear to the 2D
    width -> frozen 2D blocks with (deep) prompts and the centre position MLP added before every
    block -> drop prompts -> Linear back -> DGCNN -> FoldingNet decoder (coarse + fine).

    Prompts as the reference (``ACTPromptedDiscreteVAEwithVIT``): ``prompt_tokens`` /
    ``prompt_pos`` (1, P, W) before block 0; with ``deep_prompts``, ``deep_prompt_tokens[i-1]``
    replace the prompt slots before block i >= 1 and ``deep_prompt_pos[i-1]`` their positions
    ((D - 1, P, W) each); dropout ``prompt_dropout`` on the prompt tokens (not positions).

    ``gumbel_tau`` and ``kl_weight`` are attributes, scheduled by ``CosineScheduleHook``.
    ``forward(mode='tensor')`` returns the features after the second DGCNN (the stage-2 target).

    Args:
        vit_blocks: a ``FrozenViTBlocks`` config (the frozen 2D transformer).
        embed_dims: point-token width (384).
        num_groups / group_size: grouping (64 x 32).
        num_tokens: codebook size (8192).
        num_prompts: learnable prompt tokens (64).
        deep_prompts: fresh prompts before every block (otherwise only before the first).
        prompt_dropout: dropout on the prompt tokens (0.1).
        dgcnn_k: neighbours of the DGCNN centre graph (4).
        gumbel_tau / kl_weight: initial values (the hooks set them every iteration).
    """

    def __init__(self,
                 vit_blocks: dict,
                 embed_dims: int = 384,
                 num_groups: int = 64,
                 group_size: int = 32,
                 num_tokens: int = 8192,
                 num_prompts: int = 64,
                 deep_prompts: bool = True,
                 prompt_dropout: float = 0.1,
                 dgcnn_k: int = 4,
                 gumbel_tau: float = 1.0,
                 kl_weight: float = 0.0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(type='PointCloudPreprocessor'),
            init_cfg=init_cfg)
        self.embed_dims, self.num_groups, self.group_size = embed_dims, num_groups, group_size
        self.num_prompts, self.deep_prompts = num_prompts, deep_prompts
        self.gumbel_tau, self.kl_weight = gumbel_tau, kl_weight
        self.patch_embed = MiniPointNetEmbed(embed_dims)
        self.dgcnn_1 = TokenDGCNN(embed_dims, num_tokens, dgcnn_k)
        self.codebook = nn.Parameter(torch.randn(num_tokens, embed_dims))
        self.vit = MODELS.build(vit_blocks)
        width = self.vit.embed_dims
        self.input_proj = nn.Linear(embed_dims, width)
        self.pos_embed = center_pos_embed(width)
        self.prompt_tokens = nn.Parameter(torch.zeros(1, num_prompts, width))
        self.prompt_pos = nn.Parameter(torch.zeros(1, num_prompts, width))
        if deep_prompts:
            n_deep = self.vit.num_blocks - 1
            self.deep_prompt_tokens = nn.Parameter(torch.zeros(n_deep, num_prompts, width))
            self.deep_prompt_pos = nn.Parameter(torch.zeros(n_deep, num_prompts, width))
        self.prompt_dropout = nn.Dropout(prompt_dropout)
        self.output_proj = nn.Linear(width, embed_dims)
        self.dgcnn_2 = TokenDGCNN(embed_dims, embed_dims, dgcnn_k)
        self.decoder = FoldingGroupDecoder(embed_dims, group_size, grid_size=2)

    def init_weights(self) -> None:
        """Prompts and their positions truncated normal std 0.02 (before a ``Pretrained``
        ``init_cfg`` can overwrite them), other layers by ``init_cfg``."""
        for param in self.prompt_params():
            trunc_normal_(param, std=0.02)
        super().init_weights()

    def prompt_params(self) -> List[nn.Parameter]:
        """The prompt tokens and positions (shallow, then deep)."""
        names = ['prompt_tokens', 'prompt_pos']
        if self.deep_prompts:
            names += ['deep_prompt_tokens', 'deep_prompt_pos']
        return [getattr(self, n) for n in names]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Reads checkpoints of the earlier layout (``prompts`` (n_sets, P, W) with one
        ``prompt_pos`` shared by all blocks) as the same function in the current one."""
        old = state_dict.pop(prefix + 'prompts', None)
        if old is not None:
            state_dict[prefix + 'prompt_tokens'] = old[:1]
            if self.deep_prompts:
                state_dict[prefix + 'deep_prompt_tokens'] = old[1:]
                pos = state_dict.get(prefix + 'prompt_pos')
                if pos is not None:
                    state_dict[prefix + 'deep_prompt_pos'] = pos.expand(
                        old.shape[0] - 1, -1, -1).clone()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def encode(self, points: Tensor, hard: bool = False) -> Dict[str, Tensor]:
        """points (B, N, 3) -> dict(features (B, G, C) after the second DGCNN, logits
        (B, G, num_tokens), neighborhood (B, G, K, 3), centers (B, G, 3))."""
        neighborhood, centers, _, _ = group_points(points[..., :3].contiguous(),
                                                   self.num_groups, self.group_size)
        return self.encode_groups(neighborhood, centers, hard)

    def encode_groups(self, neighborhood: Tensor, centers: Tensor,
                      hard: bool = False) -> Dict[str, Tensor]:
        """The same from already formed groups (B, G, K, 3) / (B, G, 3), e.g. a student's, so
        that teacher and student features describe the same groups."""
        graph = self.dgcnn_1.graph(centers)  # the same centre graph serves both DGCNNs
        logits = self.dgcnn_1(self.patch_embed(neighborhood), centers, graph)
        codes = F.gumbel_softmax(logits, tau=self.gumbel_tau, hard=hard, dim=-1)
        x = self.output_proj(self.prompted_blocks(self.input_proj(codes @ self.codebook),
                                                  centers))
        features = self.dgcnn_2(x, centers, graph)
        return dict(features=features, logits=logits, neighborhood=neighborhood,
                    centers=centers)

    def prompted_blocks(self, x: Tensor, centers: Tensor) -> Tensor:
        """The frozen 2D blocks on (B, G, W) tokens with prompts and the centre positions
        (B, G, 3) added before every block -> (B, G, W) after the final norm, prompts dropped.
        """
        batch, p = x.shape[0], self.num_prompts
        pos = torch.cat([self.prompt_pos.expand(batch, -1, -1), self.pos_embed(centers)], 1)
        prompts = self.prompt_dropout(self.prompt_tokens.expand(batch, -1, -1))
        x = torch.cat([prompts, x], dim=1)
        for i in range(self.vit.num_blocks):
            if self.deep_prompts and i > 0:
                prompts = self.deep_prompt_tokens[i - 1].expand(batch, -1, -1)
                prompts = self.prompt_dropout(prompts)
                x = torch.cat([prompts, x[:, p:]], dim=1)
                pos = torch.cat([self.deep_prompt_pos[i - 1].expand(batch, -1, -1), pos[:, p:]],
                                dim=1)
            x = self.vit.forward_block(i, x + pos)
        return self.vit.final_norm(x)[:, p:]

    def loss(self, inputs: Dict[str, Tensor],
             data_samples: Optional[List] = None) -> Dict[str, Tensor]:
        out = self.encode(inputs['points'])
        coarse, fine = self.decoder(out['features'])
        target = out['neighborhood'].flatten(0, 1)  # (B * G, K, 3)
        return dict(
            loss_coarse=chamfer_distance_l1(coarse.flatten(0, 1), target),
            loss_fine=chamfer_distance_l1(fine.flatten(0, 1), target),
            loss_kl=self.kl_weight * kl_to_uniform(out['logits']))

    def forward(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.encode(inputs['points'], hard=True)['features']
        raise RuntimeError(f'{type(self).__name__} supports the modes "loss" and "tensor", '
                           f'got {mode!r}')
