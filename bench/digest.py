"""Cost of rendering the channel digest as open requests grow: it should not depend on how many there are.

    python -m bench.digest [--sizes 100,10000] [--repeats 25]

For each size it builds a digest with that many items in each of its four sections (titles
full of characters that grow on escaping, so sections fill up and entries give way), then times
`digest_message`. The baseline is the smallest size in the same run. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, timedelta

from bot.messages.digest import Digest, DigestItem, DigestSection, digest_message

KEYS = ("new", "triage", "upcoming", "overdue")
MORE = "https://gitlab.example.com/ld/requests/-/issues?label_name[]={}&state=opened"


def build(size: int) -> Digest:
    start = date(2026, 11, 23)
    items = [
        DigestItem(title=f"Pathway & course <{i}> for the sales team — Q1 onboarding refresh",
                   url=f"https://gitlab.example.com/ld/requests/-/issues/{i}",
                   model_name="Creating a new learning pathway", requester_id=f"U{i:08d}",
                   when=start + timedelta(days=i % 60), score=10 - (i % 100) / 10,
                   step="Storyboard review & sign-off", owners=(f"U{i:08d}", "W00000001"))
        for i in range(size)
    ]
    sections = [DigestSection(key, f":pushpin: {key}", items, more_url=MORE.format(key)) for key in KEYS]
    return Digest(heading="L&D digest — week of 23 Nov 2026", sections=sections)


def time_render(digest: Digest, repeats: int) -> float:
    digest_message(digest)  # warm-up: the first call pays for imports and caches, not for the size
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        text, blocks = digest_message(digest)
        samples.append(time.perf_counter() - started)
        assert text and len(blocks) <= 50
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,10000", help="items per section, comma-separated")
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    digests = {size: build(size) for size in sizes}
    results = {size: time_render(digests[size], args.repeats) for size in sizes}
    small, large = sizes[0], sizes[-1]
    _, blocks = digest_message(digests[large])
    shown = [b["text"]["text"].count("\n• ") for b in blocks if b["type"] == "section"]
    print(f"{len(KEYS)} sections, entries shown per section {shown}; median of {args.repeats}")
    print(f"| items per section | open requests in the digest | digest_message | / {small:,} per section (baseline) |")
    print("| ---: | ---: | ---: | ---: |")
    for size in sizes:
        seconds = results[size]
        print(f"| {size:,} | {size * len(KEYS):,} | {seconds * 1000:.3f} ms | {seconds / results[small]:.2f}x |")
    print(f"\n{large // small}x more requests: digest_message takes {results[large] / results[small]:.2f}x as long "
          f"({results[large] * 1000:.3f} ms for {large * len(KEYS):,} requests)")


if __name__ == "__main__":
    main()
