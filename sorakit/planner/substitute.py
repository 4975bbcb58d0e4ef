"""Unknown words read as the nearest known word of their grammar slot, by the text encoder.

"scarlet" before a noun becomes a colour, "marble" at the end of a noun phrase a shape,
"plummets" after one a motion. Each word is embedded in a short frame of its slot ("a X thing",
"a small X", "the ball X": a bare word embeds poorly), mean-pooled over its own tokens, and
compared by cosine with the lexicon's words for that slot, embedded the same way
(`sorakit.planner.lexicon.substitution_targets`). Of the frames tried ("the word X", these, and
whole-sentence pooling), these put the most calibration words on the right meaning.

A word is substituted only when it is near and nearer to one meaning than to any other
(`LIMITS`, per slot); otherwise it stays unknown and the parser reports it.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from sorakit.planner.lexicon import substitution_targets

FRAMES = {"adjective": "a {} thing", "noun": "a small {}", "verb": "the ball {}",
          "relation": "the ball {}"}  # fmt: skip
# (least cosine, least lead over the best other meaning) per slot, calibrated on words outside
# the lexicon and the benchmark (tests/test_planner.py holds them): colour words named after
# things ("carrot") sit near several colours, and verbs near many motions, so theirs are wider.
LIMITS = {"adjective": (0.42, 0.15), "noun": (0.42, 0.1), "verb": (0.55, 0.1), "any": (0.6, 0.15)}
SLOTS = {
    "adjective": ("adjective",),
    "noun": ("noun",),
    "verb": ("verb", "relation"),
    "any": ("adjective", "noun", "verb", "relation"),
}


class Substituter:
    """Callable: (word, slot) -> the nearest known word of the slot, or None."""

    def __init__(self, encoder, limits: dict[str, tuple[float, float]] | None = None):
        self.encoder, self.limits = encoder, limits or LIMITS
        targets = substitution_targets()
        self.words = {slot: [w for w, _ in pairs] for slot, pairs in targets.items()}
        self.meanings = {
            slot: [(t.kind, t.value) for _, t in pairs] for slot, pairs in targets.items()
        }
        self._cache: dict[tuple[str, str], str | None] = {}
        self._queries: dict[str, dict[str, torch.Tensor]] = {}  # word -> slot -> embedding

    @functools.cached_property
    def vectors(self) -> dict[str, torch.Tensor]:
        """slot -> the embeddings of its known words: made at the first unknown word, since
        a prompt in the lexicon's own words never needs them (about a second of MiniLM)."""
        return {slot: self._embed([(w, slot) for w in words])
                for slot, words in self.words.items()}  # fmt: skip

    def _pieces(self, text: str) -> int:
        return len(self.encoder.tokenizer(text, add_special_tokens=False)["input_ids"])

    @torch.no_grad()
    def _embed(self, pairs: list[tuple[str, str]]) -> torch.Tensor:
        """Each (word, slot) as the word in its slot's frame, mean-pooled over the word's own
        tokens, in one encoder pass."""
        hidden, _ = self.encoder.encode([FRAMES[slot].format(w) for w, slot in pairs])
        mask = torch.zeros(hidden.shape[:2], dtype=torch.bool)
        for i, (word, slot) in enumerate(pairs):
            start = 1 + self._pieces(FRAMES[slot].split("{}")[0])  # after [CLS] and the prefix
            mask[i, start : start + self._pieces(word)] = True
        mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
        return F.normalize(mean, dim=-1)

    def prime(self, words: list[str]) -> None:
        """Embed `words` in every slot's frame at once: one encoder pass for a prompt's unknown
        words instead of one per word and slot."""
        pairs = [(w, slot) for w in sorted(set(words) - set(self._queries)) for slot in FRAMES]
        if pairs:
            for (w, slot), v in zip(pairs, self._embed(pairs), strict=True):
                self._queries.setdefault(w, {})[slot] = v

    def ranked(self, word: str, slot: str = "any") -> list[tuple[float, str, tuple]]:
        """(score, known word, meaning) for the slot's words, best first."""
        self.prime([word])
        out = []
        for part in SLOTS[slot]:
            scores = (self.vectors[part] @ self._queries[word][part]).tolist()
            out += zip(scores, self.words[part], self.meanings[part], strict=True)
        return sorted(out, key=lambda r: -r[0])

    def nearest(self, word: str, slot: str = "any") -> tuple[str, float, float]:
        """The nearest known word, its score, and its lead over the best other meaning."""
        ranked = self.ranked(word, slot)
        score, best, meaning = ranked[0]
        other = next((s for s, _, m in ranked[1:] if m != meaning), -1.0)
        return best, score, score - other

    def __call__(self, word: str, slot: str = "any") -> str | None:
        key = (word, slot)
        if key not in self._cache:
            best, score, lead = self.nearest(word, slot)
            least, margin = self.limits[slot]
            ok = score >= least and lead >= margin
            self._cache[key] = best if ok else None
        return self._cache[key]
