"""Checks the Python training renderer against the TypeScript reference renderer's fixtures.

  python3 tools/train/check_renderer.py [tests/fixtures/world/scenes.json]

Each fixture is {"name", "scene", "sha256"}: the SHA-256 of the 64×64×3 uint8 RGB pixels, row-major,
as tools/world/render.ts renders the scene. Exit status 1 on any mismatch.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from world import render  # noqa: E402

DEFAULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "world", "scenes.json")


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    with open(path) as f:
        fixtures = json.load(f)
    bad = 0
    for i, fx in enumerate(fixtures):
        digest = hashlib.sha256(render(fx["scene"]).tobytes()).hexdigest()
        if digest != fx["sha256"]:
            bad += 1
            print(f"mismatch: {fx.get('name', i)}", file=sys.stderr)
    print(f"{len(fixtures) - bad}/{len(fixtures)} fixture scenes render identically")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
