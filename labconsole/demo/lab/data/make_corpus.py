"""Regenerate corpus.txt: a synthetic, seeded, ASCII-only corpus written for this lab.

Every word and template below is original to this file; nothing is downloaded. The text mixes
prose, dialogue, poetry, Python-like code, lab-notebook logs and recipes so that a character-level
model has real structure to learn (spelling, syntax, indentation, numbers) at several scales.

Run from anywhere: `python make_corpus.py` rewrites corpus.txt next to this file. The output is
committed, so the lab never depends on running this script.
"""

from __future__ import annotations

import random
from pathlib import Path

SEED = 20240611
TARGET_BYTES = 220_000

ADJECTIVES = [
    "quiet",
    "bright",
    "narrow",
    "ancient",
    "patient",
    "copper",
    "hollow",
    "restless",
    "silver",
    "gentle",
    "crooked",
    "distant",
    "heavy",
    "curious",
    "faded",
    "golden",
    "rusty",
    "tiny",
    "stubborn",
    "careful",
    "sleepy",
    "bitter",
    "wooden",
    "frozen",
    "humble",
    "clever",
]
NOUNS = [
    "river",
    "lantern",
    "engineer",
    "garden",
    "machine",
    "harbor",
    "village",
    "teacher",
    "kettle",
    "window",
    "mountain",
    "library",
    "sparrow",
    "engine",
    "bridge",
    "orchard",
    "compass",
    "notebook",
    "signal",
    "market",
    "forest",
    "workshop",
    "captain",
    "letter",
    "station",
    "valley",
]
VERBS_PAST = [
    "watched",
    "carried",
    "followed",
    "repaired",
    "measured",
    "painted",
    "counted",
    "crossed",
    "remembered",
    "opened",
    "visited",
    "described",
    "studied",
    "found",
    "lifted",
    "answered",
    "ignored",
    "borrowed",
    "tested",
    "guarded",
]
VERBS_INTRANS = [
    "waited",
    "listened",
    "wandered",
    "slept",
    "laughed",
    "hesitated",
    "worked",
    "sang",
    "returned",
    "vanished",
    "paused",
    "smiled",
]
PREPOSITIONS = ["near", "beyond", "under", "beside", "across", "behind", "inside", "above"]
ADVERBS = ["slowly", "quietly", "again", "at last", "without a word", "before dawn", "all night"]
NAMES = ["Ada", "Bram", "Cora", "Dmitri", "Elin", "Farid", "Greta", "Hugo", "Iris", "Jonas"]
TIMES = ["In the morning", "Later that week", "By evening", "Long ago", "That winter", "Meanwhile"]

# Rhyme groups keep the poetry learnable: line endings repeat in predictable pairs.
RHYMES = [
    ["light", "night", "kite", "height"],
    ["stone", "bone", "throne", "cone"],
    ["rain", "lane", "plain", "train", "chain"],
    ["sea", "tree", "key", "bee"],
    ["day", "bay", "way", "clay", "tray"],
    ["fire", "wire", "spire", "choir"],
]

CODE_NAMES = ["total", "count", "value", "items", "result", "index", "weight", "score", "batch"]
FUNC_VERBS = ["compute", "load", "parse", "merge", "filter", "update", "clip", "scale", "check"]
FUNC_OBJECTS = ["loss", "tokens", "config", "rows", "weights", "labels", "grads", "metrics"]

INGREDIENTS = ["flour", "butter", "salt", "sugar", "onions", "garlic", "lentils", "rice", "milk"]
UNITS = ["cups", "grams", "tablespoons", "teaspoons", "pinches"]
ACTIONS = ["Stir", "Whisk", "Fold", "Simmer", "Chop", "Bake", "Season", "Rest"]


def noun_phrase(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    return f"the {rng.choice(NOUNS)}"


def sentence(rng: random.Random) -> str:
    subject = rng.choice([noun_phrase(rng), rng.choice(NAMES)])
    kind = rng.random()
    if kind < 0.45:
        body = f"{subject} {rng.choice(VERBS_PAST)} {noun_phrase(rng)}"
    elif kind < 0.75:
        body = f"{subject} {rng.choice(VERBS_INTRANS)} {rng.choice(PREPOSITIONS)} {noun_phrase(rng)}"
    else:
        body = f"{rng.choice(TIMES)}, {subject} {rng.choice(VERBS_INTRANS)} {rng.choice(ADVERBS)}"
    if rng.random() < 0.3:
        body += f", and {noun_phrase(rng)} {rng.choice(VERBS_INTRANS)}"
    return body[0].upper() + body[1:] + "."


def prose(rng: random.Random) -> str:
    paragraphs: list[str] = []
    for _ in range(rng.randint(1, 3)):
        paragraphs.append(" ".join(sentence(rng) for _ in range(rng.randint(3, 6))))
    return "\n\n".join(paragraphs)


def dialogue(rng: random.Random) -> str:
    a, b = rng.sample(NAMES, 2)
    lines: list[str] = []
    for i in range(rng.randint(3, 6)):
        speaker = a if i % 2 == 0 else b
        said = sentence(rng)
        if rng.random() < 0.6:
            lines.append(f'"{said[:-1]}," said {speaker}.')
        else:
            lines.append(f'{speaker} asked, "Where is {noun_phrase(rng)}?"')
    return "\n".join(lines)


def poem(rng: random.Random) -> str:
    stanzas = []
    for _ in range(rng.randint(1, 3)):
        group_a, group_b = rng.sample(RHYMES, 2)
        ends = rng.sample(group_a, 2) + rng.sample(group_b, 2)
        order = [ends[0], ends[2], ends[1], ends[3]]  # ABAB rhyme scheme
        lines = [
            f"{rng.choice(['The', 'A', 'My', 'Your'])} {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} "
            f"{rng.choice(VERBS_INTRANS)} {rng.choice(PREPOSITIONS)} the {end}"
            for end in order
        ]
        stanzas.append("\n".join(lines))
    title = f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS).title()}"
    return f"{title}\n\n" + "\n\n".join(stanzas)


def code(rng: random.Random) -> str:
    name = f"{rng.choice(FUNC_VERBS)}_{rng.choice(FUNC_OBJECTS)}"
    arg, acc, var = rng.sample(CODE_NAMES, 3)
    limit = rng.choice([1, 2, 8, 16, 32, 100])
    op = rng.choice(["+=", "-=", "*="])
    body = [
        f"def {name}({arg}, limit={limit}):",
        f'    """{rng.choice(FUNC_VERBS).capitalize()} the {rng.choice(FUNC_OBJECTS)} of {arg}."""',
        f"    {acc} = {0 if op != '*=' else 1}",
        f"    for {var} in {arg}:",
        f"        if {var} > limit:",
        f"            {rng.choice(['continue', 'break'])}",
        f"        {acc} {op} {var}",
        f"    return {acc}",
    ]
    return "\n".join(body)


def notebook(rng: random.Random) -> str:
    day = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    lines = [f"## {day} notes"]
    loss = rng.uniform(2.0, 4.0)
    for run in range(rng.randint(3, 7)):
        lr = rng.choice(["0.001", "0.003", "0.01", "0.03"])
        loss *= rng.uniform(0.85, 0.99)
        lines.append(f"run {run + 1}: lr={lr} batch={rng.choice([16, 32, 64])} loss={loss:.3f}")
    lines.append(f"Conclusion: {sentence(rng)}")
    return "\n".join(lines)


def recipe(rng: random.Random) -> str:
    title = f"{rng.choice(ADJECTIVES).title()} {rng.choice(INGREDIENTS).title()} Stew"
    lines = [f"Recipe: {title}", "Ingredients:"]
    for item in rng.sample(INGREDIENTS, rng.randint(3, 5)):
        lines.append(f"- {rng.randint(1, 4)} {rng.choice(UNITS)} of {item}")
    lines.append("Steps:")
    for step in range(rng.randint(2, 4)):
        action = f"{rng.choice(ACTIONS)} the {rng.choice(INGREDIENTS)} {rng.choice(ADVERBS)}"
        lines.append(f"{step + 1}. {action}.")
    return "\n".join(lines)


# Prose dominates, as in most text; the rest add variety the model has to handle.
GENERATORS = [(prose, 5), (dialogue, 2), (poem, 2), (code, 2), (notebook, 1), (recipe, 1)]


def build_corpus(seed: int = SEED, target_bytes: int = TARGET_BYTES) -> str:
    rng = random.Random(seed)
    funcs, weights = zip(*GENERATORS)
    pieces: list[str] = []
    size = 0
    while size < target_bytes:
        piece = rng.choices(funcs, weights)[0](rng)
        pieces.append(piece)
        size += len(piece) + 2
    return "\n\n".join(pieces) + "\n"


if __name__ == "__main__":
    text = build_corpus()
    assert text.isascii()
    (Path(__file__).with_name("corpus.txt")).write_text(text, encoding="ascii")
    print(f"wrote {len(text)} bytes")
