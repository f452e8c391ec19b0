"""CLIP BPE for this world's captions (lowercase ASCII words), with SD3's padding rules.

The real CLIP vocabulary (vocab.json + merges.txt) is used; the captions need none of CLIP's text
clean-up (ftfy, Unicode classes), so only the word split and BPE are implemented, and
check_tokens.py compares the ids of every caption with the engine's TypeScript tokenizer.
SD3: 77 ids = [49406, word ids…, 49407], then CLIP-L pads with 49407 and CLIP-G pads with 0.
"""
from __future__ import annotations

import json
import os
import re

BOS, EOS, LENGTH = 49406, 49407, 77
DEFAULT_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "tokenizers", "clip")
# CLIP's pattern restricted to what ASCII lowercase text can match.
PATTERN = re.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+""")


class ClipBpe:
    def __init__(self, directory: str = DEFAULT_DIR):
        with open(os.path.join(directory, "vocab.json"), encoding="utf-8") as f:
            self.vocab: dict[str, int] = json.load(f)
        with open(os.path.join(directory, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        # CLIP reads merges[1 : 49152 - 256 - 2 + 1].
        merges = [tuple(l.split()) for l in lines[1:49152 - 256 - 2 + 1]]
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.cache: dict[str, list[int]] = {}

    def bpe(self, word: str) -> list[int]:
        if word in self.cache:
            return self.cache[word]
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = [(self.ranks.get((parts[i], parts[i + 1]), 1 << 30), i) for i in range(len(parts) - 1)]
            rank, _ = min(pairs)
            if rank == 1 << 30:
                break
            a, b = next((parts[i], parts[i + 1]) for r, i in pairs if r == rank)
            merged: list[str] = []
            i = 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == a and parts[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids = [self.vocab[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        text = " ".join(text.strip().split()).lower()
        if not all(ord(ch) < 128 for ch in text):
            raise ValueError(f"only ASCII captions are supported here: {text!r}")
        ids: list[int] = []
        for word in PATTERN.findall(text):
            ids += self.bpe(word)
        return ids

    def sd3_ids(self, text: str) -> tuple[list[int], list[int]]:
        """(CLIP-L ids, CLIP-G ids), 77 each; long captions are cut to 75 words' ids plus the end token."""
        body = self.encode(text)[: LENGTH - 2]
        core = [BOS] + body + [EOS]
        pad = LENGTH - len(core)
        return core + [EOS] * pad, core + [0] * pad
