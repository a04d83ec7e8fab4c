"""The README's example answers, asked of a running service: each (description, input) greedily through
/v1/generate with the adapter only (no description in the prompt), then the same input under a random string as
the description, and the base model alone (/v1/chat/completions with the same user turn, no task). Prints a markdown table
and writes it as JSON.

    t2l serve &                      # or make serve
    python scripts/examples.py --url http://127.0.0.1:8000 --out docs/examples.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import httpx

# (description, input, the right answer). Everyday wordings, none of them a training description.
EXAMPLES = [
    ("Give the two-letter postal abbreviation of this US state.", "Ohio", "OH"),
    ("What is the capital city of this state?", "Ohio", "Columbus"),
    ("Is this number a palindrome? Answer yes or no.", "121", "yes"),
    ("Which continent is this country in?", "Kenya", "Africa"),
    ("Write this number in words.", "47", "forty-seven"),
    ("Reverse the order of the items in this list.", "red, green, blue", "blue, green, red"),
    ("Put this word in capital letters.", "garden", "GARDEN"),
    ("How many words are in this sentence?", "The cat sat on the mat.", "6"),
]
RANDOM = "qz vor plinth amble kestrel 48 umbra"  # a fixed nonsense description


def ask(client: httpx.Client, url: str, task: str | None, prompt: str, max_tokens: int, base: str) -> str:
    if task is None:  # the base model (its id: `base`) alone, with the same chat prompt the adapter path uses
        body = {"model": base,
                "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens, "temperature": 0}
        r = client.post(url + "/v1/chat/completions", json=body)
        r.raise_for_status()
        return r.json()["choices"][0]["message"]["content"]
    body = {"task": task, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            "description_in_prompt": False}
    r = client.post(url + "/v1/generate", json=body)
    r.raise_for_status()
    return r.json()["text"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--out", default=None, help="write the rows as JSON here")
    args = parser.parse_args()
    with httpx.Client(timeout=300) as client:
        ready = client.get(args.url + "/ready").json()

        def answer(task: str | None, text: str) -> str:
            return ask(client, args.url, task, text, args.max_tokens, ready["model"]).strip()

        rows = [{"description": d, "input": x, "right": want, "adapter": answer(d, x),
                 "random_description": answer(RANDOM, x), "base": answer(None, x)} for d, x, want in EXAMPLES]
    print("| description | input | right | adapter | random description | base model |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["description"], r["input"], r["right"], r["adapter"], r["random_description"], r["base"]]
        print("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps({"checkpoint": ready.get("checkpoint"), "engine": ready.get("engine"),
                                              "max_tokens": args.max_tokens, "random": RANDOM,
                                              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                              "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
