"""Writes job/demo_data.jsonl: one clear task (unit conversion in a terse fixed format) so a short demo run shows
the loss falling and the answer changing from chatty prose to `7 km = 7000 m`. Seeded; no download.

Run: python -m tunecost.job.demo_data
"""

from __future__ import annotations

import json
import random
from pathlib import Path

UNITS = [("kilometers", "km", "meters", "m", 1000), ("meters", "m", "centimeters", "cm", 100),
         ("kilograms", "kg", "grams", "g", 1000), ("hours", "h", "minutes", "min", 60),
         ("minutes", "min", "seconds", "s", 60), ("liters", "L", "milliliters", "mL", 1000),
         ("days", "d", "hours", "h", 24), ("feet", "ft", "inches", "in", 12)]
PHRASES = ["Convert {n} {a} to {b}.", "How many {b} are in {n} {a}?", "{n} {a} in {b}?", "Express {n} {a} in {b}."]


def rows(count: int = 320, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        long_a, a, long_b, b, factor = rng.choice(UNITS)
        n = rng.randint(1, 99)
        prompt = rng.choice(PHRASES).format(n=n, a=long_a, b=long_b)
        out.append({"prompt": prompt, "completion": f"{n} {a} = {n * factor} {b}"})
    return out


def main() -> None:
    path = Path(__file__).with_name("demo_data.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
