"""The suite's hand-written descriptions, kept as data, and `make_op`, which turns an op's text block into an Op.

Every op module has one plain-text file under training/suite/descriptions/ (words.txt, countries.txt, numbers.txt,
lists.txt, sentences.txt, bigbench.txt), one section per op:

    # Lines starting with "#" before the first section are comments.
    ## number.double
    Double the number.                       <- training descriptions, one per line
    ...
    --
    Return 2 times the given number.         <- evaluation-only descriptions
    ...
    --
    double the number                        <- optional: training clauses (for op x format combinations)
    ...
    --
    take the number times two                <- and evaluation-only clauses (both or neither)

A section runs from its `## <op name>` line to the next one (or the end of the file); blank lines are ignored, and
no description may start with "## ". An op module asks for the blocks of exactly its ops (`descriptions`): a
section missing for one of them, or a section that no op of the module uses, is an error naming the file and the op.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from training.suite.core import Op

DESCRIPTIONS_DIR = Path(__file__).resolve().parent / "descriptions"
HEADER = "## "


class DescriptionsError(ValueError):
    """A descriptions file that does not match its op module (or cannot be parsed)."""


@lru_cache(maxsize=None)
def _sections(filename: str) -> tuple[tuple[str, str], ...]:
    """(op name, block) for every section of a descriptions file, in the file's order (read and parsed once)."""
    path = DESCRIPTIONS_DIR / filename
    if not path.is_file():
        raise DescriptionsError(f"{path}: no such descriptions file")
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(HEADER):
            name = line[len(HEADER):].strip()
            if not name or name in sections:
                raise DescriptionsError(f"{path}:{number}: {'duplicate' if name else 'empty'} section {line!r}")
            current = sections[name] = []
        elif current is not None:
            current.append(line)
        elif line.strip() and not line.startswith("#"):
            raise DescriptionsError(f"{path}:{number}: text before the first '{HEADER}<op name>' line: {line!r}")
    blocks = tuple((name, "\n".join(lines).strip()) for name, lines in sections.items())
    for name, block in blocks:
        if not block:
            raise DescriptionsError(f"{path}: section '{HEADER}{name}' (op {name}) is empty")
    return blocks


def descriptions(filename: str, names: Iterable[str]) -> dict[str, str]:
    """{op name: text block} for exactly `names`, in that order, from descriptions/<filename>. Raises
    DescriptionsError naming the file and the op when one of `names` has no section or a section is not in `names`."""
    sections = dict(_sections(filename))
    names = list(names)
    path = DESCRIPTIONS_DIR / filename
    missing = [name for name in names if name not in sections]
    if missing:
        raise DescriptionsError(f"{path}: no section '{HEADER}{missing[0]}' for op {missing[0]} "
                                f"(ops without descriptions: {', '.join(missing)})")
    unused = [name for name in sections if name not in set(names)]
    if unused:
        raise DescriptionsError(f"{path}: section '{HEADER}{unused[0]}' belongs to no op of its module "
                                f"(unused sections: {', '.join(unused)})")
    return {name: sections[name] for name in names}


def make_op(name: str, pool: str, answer: Callable[[str], str | None], spec: str, source: str = "python") -> Op:
    """An Op from a text block (see module doc): sections separated by lines holding only `--`."""
    sections = [[line.strip() for line in block.strip().splitlines() if line.strip()]
                for block in ("\n" + spec.strip() + "\n").split("\n--\n")]
    if len(sections) not in (2, 4):
        raise ValueError(f"{name}: a spec needs 2 or 4 sections, got {len(sections)}")
    train, evals = tuple(sections[0]), tuple(sections[1])
    clauses, eval_clauses = (tuple(sections[2]), tuple(sections[3])) if len(sections) == 4 else ((), ())
    return Op(name=name, pool=pool, answer=answer, train=train, eval=evals, clauses=clauses,
              eval_clauses=eval_clauses, source=source)
