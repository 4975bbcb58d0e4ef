"""The default text encoder, MiniLM (a 6-layer BERT), in plain PyTorch with its fast tokenizer.

`transformers` loads the same weights, but importing its BERT took longer than loading every
model of a cold `sorakit generate` together (`generate --profile`, `python -X importtime`). This
module reads the packaged `model.safetensors` and `tokenizer.json` directly; its outputs equal
transformers' `BertModel` (`tests/test_text.py` compares them). Other encoders (T5,
CLIP, any `AutoModel`) still load through transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def read(cls, folder: Path) -> BertConfig:
        raw = json.loads((folder / "config.json").read_text())
        if raw.get("model_type") != "bert" or raw.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{folder}: not a BERT with GELU activations")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{folder}: only absolute position embeddings are supported")
        return cls(**{name: raw[name] for name in cls.__dataclass_fields__})


class _Embeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()

        # Tables without initialisation (`Bert.from_folder` reads them): initialising one under
        # a meta-device context would import torch's decompositions, slower than the load.
        def table(rows: int) -> nn.Embedding:
            return nn.Embedding.from_pretrained(torch.empty(rows, c.hidden_size), freeze=False)

        self.word_embeddings = table(c.vocab_size)
        self.position_embeddings = table(c.max_position_embeddings)
        self.token_type_embeddings = table(c.type_vocab_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, ids: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(positions)[None]
        return self.LayerNorm(x + self.token_type_embeddings.weight[0])


class _SelfAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        q, k, v = (m(x).unflatten(-1, (self.heads, -1)).transpose(1, 2)
                   for m in (self.query, self.key, self.value))  # fmt: skip
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        return out.transpose(1, 2).flatten(2)


class _Residual(nn.Module):
    """dense, then LayerNorm of the sum with the block's input (BERT's "output" modules)."""

    def __init__(self, inputs: int, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(inputs, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, h: Tensor, x: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(h) + x)


class _Attention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _Residual(c.hidden_size, c)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.output(self.self(x, mask), x)


class _Intermediate(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.dense(x))


class _Layer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _Residual(c.intermediate_size, c)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class _Encoder(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


@dataclass
class _Output:
    last_hidden_state: Tensor


class Bert(nn.Module):
    """BERT's encoder (no pooler): `model(input_ids=, attention_mask=).last_hidden_state`, as
    transformers' `BertModel` answers."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> _Output:
        x = self.embeddings(input_ids)
        mask = attention_mask.bool()
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return _Output(x)

    @classmethod
    def from_folder(cls, folder: str | Path) -> Bert:
        """The model of a transformers BERT folder (config.json, model.safetensors)."""
        folder = Path(folder)
        config = BertConfig.read(folder)
        with torch.device("meta"):  # no initialisation: every weight is read next
            model = cls(config)
        weights = load_file(str(folder / "model.safetensors"))
        mine = model.state_dict()
        model.load_state_dict({k: v for k, v in weights.items() if k in mine}, assign=True)
        return model.eval()


class FastTokenizer:
    """A `tokenizer.json` (the Rust `tokenizers` library) answering the calls `TextEncoder`
    and the planner make of a transformers tokenizer: right padding, truncation to
    `max_length` with the special tokens kept, and `decode`."""

    padding_side = "right"

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(path))
        self._tok.no_padding()
        self._tok.no_truncation()

    def __call__(
        self,
        text: str | list[str],
        padding: str | bool = False,
        truncation: bool = False,
        max_length: int | None = None,
        return_tensors: str | None = None,
        add_special_tokens: bool = True,
    ) -> dict:
        texts = [text] if isinstance(text, str) else list(text)
        encoded = self._tok.encode_batch(texts, add_special_tokens=add_special_tokens)
        ids = [e.ids for e in encoded]
        if truncation and max_length is not None:
            ids = [self._truncate(e, max_length, add_special_tokens) for e in ids]
        masks = [[1] * len(i) for i in ids]
        if padding or return_tensors == "pt":
            longest = max((len(i) for i in ids), default=0)
            ids = [i + [0] * (longest - len(i)) for i in ids]
            masks = [m + [0] * (longest - len(m)) for m in masks]
        if return_tensors == "pt":
            return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(masks)}
        if isinstance(text, str):
            return {"input_ids": ids[0], "attention_mask": masks[0]}
        return {"input_ids": ids, "attention_mask": masks}

    @staticmethod
    def _truncate(ids: list[int], max_length: int, special: bool) -> list[int]:
        """The first tokens that fit in `max_length`, the closing [SEP] kept."""
        if len(ids) <= max_length:
            return ids
        if not special:
            return ids[:max_length]
        return ids[: max_length - 1] + ids[-1:]

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)
