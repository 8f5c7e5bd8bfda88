"""ACT stage 1: a dVAE around a frozen, prompt-tuned 2D transformer (ACT, Dong et al.,
ICLR 2023; reference code RunpeiDong/ACT)."""
import math
import warnings
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from ..layers.dgcnn import TokenDGCNN
from ..teachers.frozen_vit_blocks import read_vit_record, vit_record_tensor
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

    The 2D weights it was trained with are recorded in every state dict it saves: the buffer
    ``weights_2d_record`` holds ``FrozenViTBlocks.fingerprint`` (the 2D file's sha256, path,
    source, arch, width, depth) as fixed-size uint8 JSON (``vit_record_tensor``), so the
    record travels with any checkpoint or plain state dict of the model (a tensor, where an
    ``_extra_state`` object would break code that expects tensors in a state dict). Loading a
    state dict (stage-2 teacher, resume, ``load_from``) compares the record with the 2D file
    this model was built with (``vit_blocks.checkpoint``; in ACT stage 2
    ``model.teacher.model.vit_blocks.checkpoint``): another file's sha256 raises ``ValueError``
    naming both files and hashes (a warning with ``on_vit_mismatch='warn'``); a state dict
    without a record (written before the record existed) loads with a ``UserWarning`` saying
    that the 2D weights cannot be checked (a warning, not an error, so existing stage-1 runs
    stay usable).

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
        on_vit_mismatch: 'error' (default) or 'warn' when a loaded state dict was trained with
            other 2D weights than ``vit_blocks.checkpoint`` (for experts who swap the 2D model
            on purpose).
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
                 on_vit_mismatch: str = 'error',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(type='PointCloudPreprocessor'),
            init_cfg=init_cfg)
        if on_vit_mismatch not in ('error', 'warn'):
            raise ValueError(f"on_vit_mismatch must be 'error' or 'warn', got "
                             f'{on_vit_mismatch!r}')
        self.on_vit_mismatch = on_vit_mismatch
        self.embed_dims, self.num_groups, self.group_size = embed_dims, num_groups, group_size
        self.num_prompts, self.deep_prompts = num_prompts, deep_prompts
        self.gumbel_tau, self.kl_weight = gumbel_tau, kl_weight
        self.patch_embed = MiniPointNetEmbed(embed_dims)
        self.dgcnn_1 = TokenDGCNN(embed_dims, num_tokens, dgcnn_k)
        self.codebook = nn.Parameter(torch.randn(num_tokens, embed_dims))
        self.vit = MODELS.build(vit_blocks)
        width = self.vit.embed_dims
        # which 2D weights this model is trained with, saved in every state dict
        self.register_buffer('weights_2d_record', vit_record_tensor(self.vit.fingerprint))
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

    def check_vit_record(self, record: Optional[Dict[str, Any]]) -> None:
        """Compare the 2D-weights record of a state dict being loaded with this model's 2D
        file (see the class docstring)."""
        mine = self.vit.fingerprint
        if not record:
            warnings.warn(
                f'{type(self).__name__}: the state dict being loaded records no 2D weights '
                f'fingerprint (saved before fingerprints were recorded, or converted without '
                f'the 2D file), so it cannot be checked that it was trained with the 2D file '
                f'{mine["file"]} (sha256 {mine["file_sha256"]}) of vit_blocks.checkpoint. A '
                f'different 2D file gives wrong features without an error: make sure it is the '
                f'one the stage-1 checkpoint was trained with (re-convert reference checkpoints '
                f'with tools/model_converters/act_to_pt3kd.py to record it).')
            return
        if record.get('file_sha256') == mine['file_sha256']:
            return
        msg = (f'{type(self).__name__}: the state dict being loaded was trained with the 2D '
               f'weights {record.get("file")} (sha256 {record.get("file_sha256")}, source '
               f'{record.get("source")}, arch {record.get("arch")}), but this model\'s '
               f'vit_blocks.checkpoint is {mine["file"]} (sha256 {mine["file_sha256"]}, source '
               f'{mine["source"]}, arch {mine["arch"]}): the frozen 2D blocks differ, so the '
               f'learnt prompts and projections do not fit them. Point vit_blocks.checkpoint '
               f'(model.teacher.model.vit_blocks.checkpoint in ACT stage 2) at the 2D file the '
               f'stage-1 model was trained with, or use a stage-1 checkpoint trained with this '
               f"one (on_vit_mismatch='warn' only warns).")
        if self.on_vit_mismatch == 'error':
            raise ValueError(msg)
        warnings.warn(msg)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """Reads checkpoints of the earlier layout (``prompts`` (n_sets, P, W) with one
        ``prompt_pos`` shared by all blocks) as the same function in the current one, and
        checks the 2D-weights record (``check_vit_record``; this model keeps its own)."""
        record = state_dict.get(prefix + 'weights_2d_record')
        self.check_vit_record(None if record is None else read_vit_record(record))
        state_dict[prefix + 'weights_2d_record'] = self.weights_2d_record
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
