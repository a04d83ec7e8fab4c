"""Operations on short simple sentences ("Anna painted the red chair in the garden.").

Pool "sentence": 400 distinct sentences generated with a fixed seed from one template family,
    [Did|Does] NAME VERB [the COLOUR|the] OBJECT PREP PLACE [.|!|?]
statements in the past or present tense (some ending with "!"), and yes/no questions with "Did" / "Does". Because
the generator knows every slot, ops can ask for the person, the verb (base form), the object, the colour, the place,
the tense or the kind of sentence, besides surface ops (word count, first/last/longest word, reversed word order,
acronym, capitalised words).

Sources and licences
    python    the word lists (names, verbs with their forms, colours, objects with plurals, places) are written
              here by hand, the sentences are generated here and every answer is computed here; no package.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from training.suite.core import Pool, Registry
from training.suite.ops_numbers import make_op

POOL = "sentence"
N_ITEMS = 400

NAMES = ("Anna", "Tom", "Maria", "Ben", "Lucy", "Sam", "Nora", "Jack", "Emma", "Leo", "Mia", "Omar", "Zoe", "Paul",
         "Ivy", "Max")
# base, past, third person singular
VERBS = (("paint", "painted", "paints"), ("clean", "cleaned", "cleans"), ("find", "found", "finds"),
         ("buy", "bought", "buys"), ("carry", "carried", "carries"), ("wash", "washed", "washes"),
         ("fix", "fixed", "fixes"), ("sell", "sold", "sells"), ("draw", "drew", "draws"),
         ("open", "opened", "opens"), ("hide", "hid", "hides"), ("lose", "lost", "loses"))
COLOURS = ("red", "blue", "green", "yellow", "black", "white", "brown", "pink")
OBJECTS = (("chair", "chairs"), ("box", "boxes"), ("kite", "kites"), ("bike", "bikes"), ("lamp", "lamps"),
           ("basket", "baskets"), ("glass", "glasses"), ("cup", "cups"), ("boat", "boats"), ("hat", "hats"),
           ("dish", "dishes"), ("table", "tables"), ("brush", "brushes"), ("key", "keys"))
PREPOSITIONS = ("in", "near", "behind")
PLACES = ("garden", "kitchen", "park", "school", "market", "station", "library", "yard")
CITIES = ("Paris", "London", "Rome", "Tokyo", "Berlin", "Madrid")


@dataclass(frozen=True)
class Parts:
    name: str
    verb: str  # base form
    tense: str  # "past" | "present"
    colour: str | None
    obj: str
    plural: str
    prep: str
    place: str
    kind: str  # "statement" | "question" | "exclamation"


def _render(p: Parts) -> str:
    base, past, third = next(v for v in VERBS if v[0] == p.verb)
    np = f"the {p.colour} {p.obj}" if p.colour else f"the {p.obj}"
    where = f"{p.prep} {p.place}" if p.place in CITIES else f"{p.prep} the {p.place}"
    if p.kind == "question":
        aux = "Did" if p.tense == "past" else "Does"
        return f"{aux} {p.name} {base} {np} {where}?"
    verb = past if p.tense == "past" else third
    return f"{p.name} {verb} {np} {where}" + ("!" if p.kind == "exclamation" else ".")


def sentence_parts() -> dict[str, Parts]:
    """Sentence -> its slots, N_ITEMS distinct sentences in a fixed order."""
    rng = random.Random("t2l-suite:sentence")
    out: dict[str, Parts] = {}
    while len(out) < N_ITEMS:
        obj, plural = rng.choice(OBJECTS)
        r = rng.random()
        kind = "question" if r < 0.25 else "exclamation" if r < 0.4 else "statement"
        p = Parts(name=rng.choice(NAMES), verb=rng.choice(VERBS)[0],
                  tense="past" if rng.random() < 0.6 else "present",
                  colour=rng.choice(COLOURS) if rng.random() < 0.8 else None, obj=obj, plural=plural,
                  prep=rng.choice(PREPOSITIONS),
                  place=rng.choice(CITIES) if rng.random() < 0.25 else rng.choice(PLACES), kind=kind)
        out.setdefault(_render(p), p)
    return out


def _words(s: str) -> list[str]:
    return s[:-1].split()  # every sentence ends with exactly one punctuation mark


def _longest(ws: list[str]) -> str | None:
    best = max(map(len, ws))
    hits = [w for w in ws if len(w) == best]
    return hits[0] if len(hits) == 1 else None


SURFACE: dict[str, Callable[[str], object]] = {
    "word_count": lambda s: len(_words(s)),
    "first_word": lambda s: _words(s)[0],
    "last_word": lambda s: _words(s)[-1],
    "second_word": lambda s: _words(s)[1],
    "longest_word": lambda s: _longest(_words(s)),
    "reverse_words": lambda s: " ".join(_words(s)[::-1]),
    "acronym": lambda s: "".join(w[0].upper() for w in _words(s)),
    "capital_count": lambda s: sum(1 for w in _words(s) if w[0].isupper()),
}
SLOTS: dict[str, Callable[[Parts], object]] = {
    "person": lambda p: p.name,
    "verb": lambda p: p.verb,
    "object": lambda p: p.obj,
    "object_plural": lambda p: p.plural,
    "colour": lambda p: p.colour,
    "place": lambda p: p.place,
    "preposition": lambda p: p.prep,
    "tense": lambda p: p.tense,
    "kind": lambda p: p.kind,
}

SPECS: dict[str, str] = {
    "word_count": """
How many words are in the sentence?
Count the words in the sentence.
Give the number of words.
Task: return the word count of the sentence.
Count how many words there are, ignoring punctuation.
Please count every word in this sentence and reply with the number.
Sentence word count only.
Count the words, e.g. "Tom found the key." -> 4.
How long is the sentence in words?
Tell me how many words the sentence has.
How many words make up this sentence?
Output the number of words in the input.
--
Return the total number of words in the sentence.
How many separate words does it contain?
Instruction: count the sentence's words.
Say how many words the sentence is made of.
--
count the words in the sentence
give the number of words
say how many words the sentence has
give the word count
--
tally the words of the sentence
tell how many words there are
""",
    "first_word": """
What is the first word of the sentence?
First word of the sentence, please.
Return the word the sentence starts with.
Task: output the opening word.
Which word comes first in the sentence?
Please reply with only the very first word of this sentence.
Just the sentence's first word.
Take the first word, e.g. "Tom found the key." -> Tom.
How does the sentence begin? One word.
Give me the leading word of the sentence.
Pick out the initial word.
Output the sentence's first word.
--
Return the word at the start of the sentence.
Which word opens the sentence?
Instruction: give the sentence's opening word.
What word does the sentence begin with?
--
give the first word of the sentence
take the opening word
return the word the sentence starts with
pick out the first word
--
name the word that opens the sentence
give the initial word
""",
    "last_word": """
What is the last word of the sentence, without punctuation?
Give the final word.
Return the word the sentence ends with.
Task: output the closing word, leaving off the punctuation mark.
Which word comes last in the sentence?
Please reply with only the very last word of this sentence, without the full stop or question mark.
Just the sentence's last word.
Take the last word, e.g. "Tom found the key." -> key.
How does the sentence end? One word.
Give me the final word of the sentence.
Pick out the word just before the punctuation.
Output the sentence's last word.
--
Return the word at the end of the sentence.
Which word closes the sentence?
Instruction: give the sentence's final word, no punctuation.
What word does the sentence finish with?
--
give the last word of the sentence
take the final word of the sentence
return the word the sentence ends with
pick out the last word
--
name the word that closes the sentence
give the closing word
""",
    "second_word": """
What is the second word of the sentence?
Give the second word.
Return the word that follows the first word.
Task: output word number two.
Which word comes second?
Please reply with only the word that comes right after the first word of the sentence.
Second word only.
Take the second word, e.g. "Tom found the key." -> found.
What is the next word after the opening one?
Give me the word in position two.
Pick out the sentence's second word.
Output the word in second place.
--
Return the sentence's second word.
Which word is in the second slot?
Instruction: give the word directly after the first word.
What word stands second in the sentence?
""",
    "longest_word": """
What is the longest word in the sentence?
Give the longest word.
Return the sentence's word with the most letters.
Task: output the longest word of the sentence.
Which word in the sentence is the longest?
Please compare the words of this sentence by length and reply with the longest one.
Just the longest word of the sentence.
Find the longest word, e.g. "Tom cleaned the red cup." -> cleaned.
Which word takes the most letters to write?
Name the lengthiest word in the sentence.
Which word here has the greatest number of letters?
Output the sentence's longest word.
--
Return the word with the maximum length.
Which of the sentence's words is wordiest?
Instruction: find the longest word in the input.
What word has more letters than any other in the sentence?
""",
    "reverse_words": """
Reverse the order of the words in the sentence, without punctuation.
Write the words of the sentence backwards, word by word.
Give the sentence's words in reverse order.
Task: return the sentence's words from last to first, no punctuation.
Flip the word order.
Please rewrite the sentence starting from its last word and ending with its first, leaving out the final punctuation.
Sentence backwards, word by word, please.
Reverse the words, e.g. "Tom found the key." -> key the found Tom.
Read the sentence's words from right to left.
Turn the sequence of words around.
Put the words of the sentence in the opposite order.
Output the words from last to first, separated by spaces.
--
Return the words in reversed sequence, punctuation dropped.
Invert the order of the sentence's words.
Instruction: write the sentence back to front, one word at a time.
List the words of the sentence starting from the end.
--
reverse the order of the words in the sentence
write the words backwards
give the sentence's words in reverse order
flip the word order
--
list the sentence's words from last to first
write the sentence back to front word by word
""",
    "acronym": """
Make an acronym from the first letter of each word.
Give the initials of all the words in capital letters.
Write the first letter of every word, capitalised, with no spaces.
Task: return the acronym of the sentence.
Take each word's first letter and join them in upper case.
Please take the first letter of every word in the sentence, make it a capital, and write them all together.
Acronym only.
Build the acronym, e.g. "Tom found the key." -> TFTK.
What acronym do the words' initials form?
Abbreviate the sentence to its initial letters, uppercase.
String together the capitalised first letters of the words.
Output the initials of the words as one uppercase string.
--
Return the uppercase initial of each word, concatenated.
Shorten the sentence to an acronym.
Instruction: form an acronym from the words.
Spell out the capital initials of the sentence's words.
--
make an acronym from the sentence
give the initials of all the words
join the first letter of every word in capitals
abbreviate the sentence to its initials
--
form an acronym of the sentence
string together the words' capitalised initials
""",
    "capital_count": """
How many words start with a capital letter?
Count the capitalised words.
Give the number of words that begin with an uppercase letter.
Task: return how many words are capitalised.
Count the words with a capital first letter.
Please count how many words in this sentence start with a capital letter and reply with the number.
Capitalised word count only.
Count the capitals, e.g. "Did Tom visit Rome?" -> 3.
How many of the words are written with an initial capital?
Tell me how many words begin with a big letter.
How many uppercase-initial words does the sentence have?
Output the count of capitalised words.
--
Return the number of words whose first letter is uppercase.
How many words are capitalised here?
Instruction: count the words beginning with a capital.
Say how many words open with a capital letter.
--
count the capitalised words
give the number of words starting with a capital
say how many words begin with a capital letter
count the words with an uppercase first letter
--
tally the words that open with a capital
tell how many words are capitalised
""",
    "person": """
Who is the sentence about? Give the name.
Give the name of the person in the sentence.
Which person is mentioned?
Task: return the person's name.
Name the person.
Please read the sentence and reply with just the name of the person doing the action.
The name only.
Who does it? e.g. "Tom found the key." -> Tom.
Who is the subject of the sentence?
Who performs the action here?
Which person's name appears?
Output the name of the person in the input.
--
Return the name of whoever acts in the sentence.
Whose name is in the sentence?
Instruction: identify the person mentioned.
Who is doing something in this sentence? Name only.
--
give the name of the person in the sentence
name the person
say who the sentence is about
give the subject's name
--
identify the person who acts
tell whose name appears
""",
    "verb": """
What is the verb of the sentence, in its base form?
Give the main verb in the infinitive, without "to".
Which action is described? One verb, base form.
Task: return the sentence's verb in dictionary form.
Name the verb, e.g. found -> find.
Please find the action word in this sentence and reply with its base form, the way a dictionary lists it.
The verb only, base form.
What does the person do? One verb in the base form.
Give the action as a plain verb like paint or buy.
What's the lemma of the main verb?
Turn the verb into its base form and give only that.
Output the main verb, not conjugated.
--
Return the infinitive of the sentence's main verb, no "to".
Which verb is used? Write it in its basic form.
Instruction: give the dictionary form of the action word.
What action happens, as a bare verb?
--
give the verb in its base form
name the main verb in dictionary form
say which action happens as a base verb
give the infinitive of the verb
--
identify the action word in its plain form
write the lemma of the main verb
""",
    "object": """
What thing is mentioned? Give the noun.
Give the object of the sentence, without its colour.
Which object does the person act on?
Task: return the object noun.
Name the thing.
Please read the sentence and reply with just the noun for the thing the person does something to.
The object only.
What thing is it? e.g. "Tom found the red key." -> key.
Which item is the sentence about?
What is being acted upon? One word.
Name the object noun, leaving out any adjective.
Output the noun naming the object.
--
Return the noun for the thing in the sentence.
What item does the person handle?
Instruction: identify the object noun.
Which thing is involved? Give its noun only.
--
give the object of the sentence
name the thing the person acts on
give the object noun
say which item is mentioned
--
identify the thing being acted on
tell which object appears
""",
    "object_plural": """
Give the plural of the object in the sentence.
What is the plural of the thing mentioned?
Name the object, in the plural.
Task: return the object noun in plural form.
Pluralise the thing.
Please find the noun for the object in this sentence and reply with its plural form.
Object, plural.
Plural of the object, e.g. "Tom found the red box." -> boxes.
If there were several of the thing, what would you call them?
Write the object noun in the plural.
Make the object plural and give only that word.
Output the plural of the item mentioned.
--
Return the plural form of the sentence's object.
What do you call more than one of the thing mentioned?
Instruction: pluralise the object noun.
Which word names several of the item in the sentence?
--
give the plural of the object
name the object in the plural
pluralise the thing mentioned
write the object noun in plural form
--
turn the object into its plural
give several of the item as one word
""",
    "colour": """
What colour is mentioned?
Give the colour of the object.
Which colour word appears in the sentence?
Task: return the colour.
Name the colour.
Please read the sentence and reply with just the colour of the thing.
The colour only.
What colour is it? e.g. "Tom found the red key." -> red.
What colour is the item?
Which colour does the sentence use?
Name the colour adjective.
Output the colour in the input.
--
Return the colour word from the sentence.
Which colour is the object said to be?
Instruction: identify the colour.
What is the hue of the thing mentioned?
--
give the colour mentioned
name the colour of the object
say which colour appears
give the colour word
--
identify the colour of the item
tell what colour the thing is
""",
    "place": """
Where does it happen? Give the place.
Give the place named in the sentence.
Which location is mentioned?
Task: return the place, without the article.
Name the place.
Please read the sentence and reply with just the name of the place where the action happens.
The place only.
Where? e.g. "Tom found the key in the park." -> park.
In which location does this take place?
What is the setting? One word.
Name the place at the end of the sentence.
Output the location in the input.
--
Return the location of the action.
Where does the action take place? One word.
Instruction: identify the place named.
Which place is the sentence set in?
--
give the place named in the sentence
say where it happens
name the location
give the place of the action
--
identify the setting
tell where the action takes place
""",
    "preposition": """
What preposition comes before the place?
Give the preposition in the sentence.
Which word links the object to the place (in, near, behind)?
Task: return the preposition.
Name the preposition.
Please find the small word that tells where the thing is relative to the place, and reply with it.
The preposition only.
Which preposition? e.g. "Tom found the key near the park." -> near.
Is it in, near or behind? Answer with the word.
Which positional word is used?
Name the word of location before the place.
Output the sentence's preposition.
--
Return the preposition that introduces the place.
Which preposition does the sentence use?
Instruction: identify the preposition.
What word of position comes just before the location?
""",
    "tense": """
Is the sentence in the past or the present tense?
Give the tense: past or present.
Past or present?
Task: classify the tense of the sentence as past or present.
Which tense is used?
Please read the sentence and tell me whether it talks about the past or the present, with one word.
Answer "past" or "present".
Tense, e.g. "Tom found the key." -> past.
Does this happen now or did it already happen? Say present or past.
What is the tense of the verb?
Label the sentence past or present.
Output the tense in one word.
--
Return the grammatical tense, past or present.
Is the action in the past, or in the present?
Instruction: identify the sentence's tense.
Which time does the verb express: past or present?
--
give the tense of the sentence
say whether it is past or present
classify the tense as past or present
name the tense
--
identify the tense of the verb
label the sentence past or present
""",
    "kind": """
Is this a statement, a question or an exclamation?
Classify the sentence: statement, question or exclamation.
What kind of sentence is it?
Task: label the sentence type as statement, question or exclamation.
Statement, question, or exclamation?
Please tell me whether this sentence states something, asks something or exclaims something, using one word.
Sentence type only.
Classify it, e.g. "Did Tom find the key?" -> question.
What type of sentence is this, judging by how it ends?
Is it asking, telling or exclaiming? Use statement, question or exclamation.
Name the sentence type.
Output the kind of sentence in one word.
--
Return the sentence's type: statement, question or exclamation.
Which kind of sentence do you see?
Instruction: classify the sentence by its type.
Does the sentence tell, ask or exclaim? Answer with the type name.
--
classify the sentence as statement, question or exclamation
say what kind of sentence it is
give the sentence type
name the type of the sentence
--
label the sentence by its type
tell whether it states, asks or exclaims
""",
}


def register(reg: Registry) -> None:
    parts = sentence_parts()
    reg.add_pool(Pool(POOL, tuple(parts)))

    def surface(fn):
        return lambda s: None if (out := fn(s)) is None else str(out)

    def slot(fn):
        return lambda s: None if s not in parts or (out := fn(parts[s])) is None else str(out)

    for key, spec in SPECS.items():
        fn = surface(SURFACE[key]) if key in SURFACE else slot(SLOTS[key])
        reg.ops.append(make_op(f"sentence.{key}", POOL, fn, spec))
