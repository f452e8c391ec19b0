"""Checks clip_tokens.py against the engine's tokenizer on every caption of the world.

Usage (from the repository root):
  python3 tools/train/check_tokens.py --write /tmp/captions.json
  npm run tokenize -- --input /tmp/captions.json --json /tmp/captions_tokens.json
  python3 tools/train/check_tokens.py --compare /tmp/captions_tokens.json
Exit status 1 on any difference.
"""
from __future__ import annotations

import argparse
import json
import sys

from clip_tokens import ClipBpe
from world import all_captions


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write")
    ap.add_argument("--compare")
    a = ap.parse_args()
    caps = all_captions()
    if a.write:
        with open(a.write, "w") as f:
            json.dump([{"id": str(i), "text": c} for i, c in enumerate(caps)], f)
        print(f"wrote {len(caps)} captions to {a.write}")
    if a.compare:
        with open(a.compare) as f:
            cases = {c["id"]: c for c in json.load(f)["cases"]}
        tok = ClipBpe()
        bad = 0
        for i, c in enumerate(caps):
            l, g = tok.sd3_ids(c)
            ref = cases[str(i)]
            if ref["clip_l"] != l or ref["clip_g"] != g:
                bad += 1
                print(f"mismatch: {c!r}", file=sys.stderr)
        print(f"{len(caps) - bad}/{len(caps)} captions agree")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
