"""The default model's text encoder: CLIP's text transformer (causal, pre-norm, pooled at <eos>), key for key and
number for number transformers' ``CLIPTextModel``, reading and writing that class's folder (config.json +
model.safetensors) as it is, without importing transformers.

Why not transformers' class itself: importing its modelling stack (it pulls in torch.distributed.tensor and
torch._dynamo) takes 3.4-5.7 s on 2 CPU cores, a third of the 15 s that `vgen sample` may take with the default
model, for a 2-layer encoder that runs once a prompt. transformers stays the oracle: tests/shapes_model/
test_clip_text.py feeds both the same weights and inputs and compares the numbers, and loads each one's folder into
the other (as diffusers is for the DiT and the VAE).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"quick_gelu": lambda x: x * torch.sigmoid(1.702 * x), "gelu": F.gelu,
               "gelu_new": lambda x: F.gelu(x, approximate="tanh")}


# 1. The config: the keys (and defaults) of transformers' CLIPTextConfig that the text transformer uses.
@dataclass
class CLIPTextConfig:
    vocab_size: int = 49408
    hidden_size: int = 512
    intermediate_size: int = 2048
    num_hidden_layers: int = 12
    num_attention_heads: int = 8
    max_position_embeddings: int = 77
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    initializer_factor: float = 1.0
    projection_dim: int = 512  # unused by the text transformer; kept so the folder round-trips
    pad_token_id: int = 1
    bos_token_id: int = 49406
    eos_token_id: int = 49407  # the pooled state is the first <eos>'s (the highest id's when this is 2: see _pool)

    @classmethod
    def from_dict(cls, values: dict) -> CLIPTextConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_json_file(cls, path: str | Path) -> CLIPTextConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_json_file(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"architectures": ["CLIPTextModel"], "model_type": "clip_text_model",
                                          **asdict(self)}, indent=2) + "\n")


class TextStates(NamedTuple):
    last_hidden_state: torch.Tensor  # (B, L, hidden): every token's state after the final layer norm
    pooler_output: torch.Tensor  # (B, hidden): the <eos> token's


# 2. The blocks, named as transformers names them so that state dicts match.
class Embeddings(nn.Module):
    def __init__(self, c: CLIPTextConfig):
        super().__init__()
        self.token_embedding = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embedding = nn.Embedding(c.max_position_embeddings, c.hidden_size)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[-1] > self.position_embedding.num_embeddings:
            raise ValueError(f"{input_ids.shape[-1]} tokens; the encoder takes at most "
                             f"{self.position_embedding.num_embeddings}")
        return self.token_embedding(input_ids) + self.position_embedding.weight[:input_ids.shape[-1]]


class Attention(nn.Module):
    def __init__(self, c: CLIPTextConfig):
        super().__init__()
        self.heads = c.num_attention_heads
        self.dropout = c.attention_dropout
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(c.hidden_size, c.hidden_size)
                                                                for _ in range(4))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (p(x).view(b, n, self.heads, d // self.heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class MLP(nn.Module):
    def __init__(self, c: CLIPTextConfig):
        super().__init__()
        self.act = ACTIVATIONS[c.hidden_act]
        self.fc1 = nn.Linear(c.hidden_size, c.intermediate_size)
        self.fc2 = nn.Linear(c.intermediate_size, c.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, c: CLIPTextConfig):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.self_attn = Attention(c)
        self.layer_norm2 = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.mlp = MLP(c)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class Encoder(nn.Module):
    def __init__(self, c: CLIPTextConfig):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(c) for _ in range(c.num_hidden_layers))


# 3. The model.
class CLIPTextModel(nn.Module):
    """``(input_ids, attention_mask) -> TextStates``: token ids through embeddings, causal self-attention layers
    (padding keys masked) and a final layer norm; pooled = the state at the first <eos>."""

    def __init__(self, config: CLIPTextConfig):
        super().__init__()
        if config.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act {config.hidden_act!r}; known: {', '.join(ACTIVATIONS)}")
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """transformers' CLIP initialisation (so that training from scratch starts where it would there)."""
        c, f = self.config, self.config.initializer_factor
        d, depth = c.hidden_size, (2 * c.num_hidden_layers) ** -0.5
        for emb in (self.embeddings.token_embedding, self.embeddings.position_embedding):
            nn.init.normal_(emb.weight, std=0.02 * f)
        for layer in self.encoder.layers:
            a, m = layer.self_attn, layer.mlp
            for lin, std in ((a.q_proj, d ** -0.5 * depth), (a.k_proj, d ** -0.5 * depth),
                             (a.v_proj, d ** -0.5 * depth), (a.out_proj, d ** -0.5),
                             (m.fc1, (2 * d) ** -0.5), (m.fc2, d ** -0.5 * depth)):
                nn.init.normal_(lin.weight, std=std * f)
                nn.init.zeros_(lin.bias)
            for norm in (layer.layer_norm1, layer.layer_norm2):
                nn.init.ones_(norm.weight)
                nn.init.zeros_(norm.bias)
        nn.init.ones_(self.final_layer_norm.weight)
        nn.init.zeros_(self.final_layer_norm.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> TextStates:
        n = input_ids.shape[-1]
        x = self.embeddings(input_ids)
        # token i sees tokens <= i that are not padding; a row with nothing to see (all padding) sees itself,
        # so that attention stays finite (its output is masked downstream anyway)
        mask = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()[None, None]
        if attention_mask is not None:
            mask = mask & attention_mask.bool()[:, None, None, :]
            mask = mask | (~mask.any(-1, keepdim=True) & torch.eye(n, dtype=torch.bool, device=x.device))
        for layer in self.encoder.layers:
            x = layer(x, mask)
        x = self.final_layer_norm(x)
        return TextStates(x, x[torch.arange(x.shape[0], device=x.device), self._pool(input_ids)])

    def _pool(self, input_ids: torch.Tensor) -> torch.Tensor:
        if self.config.eos_token_id == 2:  # transformers' legacy rule for configs from before its PR #24773
            return input_ids.to(torch.int).argmax(-1)
        return (input_ids == self.config.eos_token_id).to(torch.int).argmax(-1)

    @staticmethod
    def key_map(key: str) -> str:
        """Checkpoint key -> ours: transformers 4 prefixed the text transformer's keys with ``text_model.``."""
        return key.removeprefix("text_model.")
