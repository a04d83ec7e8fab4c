"""Format-control operations on BIG-bench multiple-choice items ("<question>\\nA) ...\\nB) ...").

The same item gets different answers under different descriptions: the correct option's letter, its text, its
number, "yes"/"no" for "is A correct", the number of options, the text of the first option, ...

Pool "mc": up to MAX_ITEMS items from the multiple-choice tasks of the committed split's TRAINING part
(training/splits/default.json), taken in task-name order, at most PER_TASK per task, each with 2-5 distinct
short options (<= MAX_CHOICE_CHARS characters), exactly one best-scoring option, an ASCII question of
MIN..MAX_QUESTION_CHARS characters; families about social bias or self-harm (EXCLUDED_FAMILIES) are left out. The
question is the task's own input with BIG-bench's appended "choice:" lines cut off; the options keep the cache's
seeded order. Everything is read from the local BIG-bench cache (training.bigbench_source) at register time and
kept in memory only: nothing is written to disk and nothing is downloaded (a missing cache is an error).

Sources and licences
    bigbench 1.0.0 (Apache-2.0): the questions and options of the pool "mc" and the correct option that every op
              here uses; not redistributed, only read from the local cache.
    python    the rendering and every answer (letter, text, number, ...) are computed here.
"""

from __future__ import annotations

from typing import Callable

from training.suite.core import Pool, Registry
from training.suite.ops_numbers import make_op, yes_no

POOL = "mc"
SOURCE = "bigbench==1.0.0 (Apache-2.0)"
MAX_ITEMS = 300
PER_TASK = 6
MAX_CHOICE_CHARS = 40
MIN_QUESTION_CHARS, MAX_QUESTION_CHARS = 10, 220
CHOICE_MARK = "\n  choice: "
LETTERS = "ABCDE"
EXCLUDED_FAMILIES = frozenset({"bbq_lite_json", "hhh_alignment", "suicide_risk"})


def render(question: str, choices) -> str:
    return question + "".join(f"\n{LETTERS[i]}) {c}" for i, c in enumerate(choices))


def _item(example: dict) -> tuple[str, tuple[str, ...], int] | None:
    """(question, choices, index of the correct choice) of a cached example, or None when it does not qualify."""
    choices, scores = example.get("choices") or [], example.get("scores") or []
    if not 2 <= len(choices) <= 5 or len(scores) != len(choices) or len(set(choices)) != len(choices):
        return None
    if any(not c or len(c) > MAX_CHOICE_CHARS or "\n" in c or not c.isascii() for c in choices):
        return None
    best = max(scores)
    if best <= 0 or scores.count(best) != 1:
        return None
    text = example["input"]
    cut = text.find(CHOICE_MARK)
    question = " ".join(text[:cut].split()) if cut >= 0 else ""
    if not MIN_QUESTION_CHARS <= len(question) <= MAX_QUESTION_CHARS or not question.isascii():
        return None
    return question, tuple(choices), scores.index(best)


def load_items(max_items: int = MAX_ITEMS, per_task: int = PER_TASK) -> dict[str, tuple[tuple[str, ...], int]]:
    """Rendered item -> (choices, correct index), in a deterministic order; needs the local BIG-bench cache."""
    from training.bigbench_source import SDIST_SHA256, BigBenchError, cache_is_current, read_index, read_task_record
    from training.tasks import TaskConfig, load_split
    from t2l.assets import t2l_home

    cache_dir = t2l_home() / "data" / "bigbench"
    if not cache_is_current(cache_dir, TaskConfig().source_params(), SDIST_SHA256):
        raise BigBenchError(f"no current BIG-bench cache at {cache_dir}: build it with training.tasks.prepare_bigbench()"
                            " (the suite's 'mc' pool never downloads)")
    tasks = read_index(cache_dir)["tasks"]
    names = sorted(n for n in load_split("default").train
                   if tasks[n]["kind"] == "multiple_choice" and tasks[n]["family"] not in EXCLUDED_FAMILIES)
    items: dict[str, tuple[tuple[str, ...], int]] = {}
    for name in names:
        taken = 0
        for example in read_task_record(cache_dir, name)["examples"]:
            got = _item(example)
            if got is None:
                continue
            text = render(got[0], got[1])
            if text in items:
                continue
            items[text] = (got[1], got[2])
            taken += 1
            if taken == per_task or len(items) == max_items:
                break
        if len(items) == max_items:
            break
    return items


def _longest(choices: tuple[str, ...]) -> str | None:
    best = max(map(len, choices))
    hits = [c for c in choices if len(c) == best]
    return hits[0] if len(hits) == 1 else None


def _first_wrong(choices: tuple[str, ...], k: int) -> str:
    return LETTERS[1 if k == 0 else 0]


ANSWERS: dict[str, Callable[[tuple[str, ...], int], object]] = {
    "letter": lambda cs, k: LETTERS[k],
    "letter_lower": lambda cs, k: LETTERS[k].lower(),
    "letter_paren": lambda cs, k: f"({LETTERS[k]})",
    "text": lambda cs, k: cs[k],
    "text_upper": lambda cs, k: cs[k].upper() if cs[k].upper() != cs[k] else None,
    "number": lambda cs, k: k + 1,
    "line": lambda cs, k: f"{LETTERS[k]}) {cs[k]}",
    "is_a": lambda cs, k: yes_no(k == 0),
    "first_wrong": _first_wrong,
    "count_options": lambda cs, k: len(cs),
    "first_option": lambda cs, k: cs[0],
    "last_option": lambda cs, k: cs[-1],
    "last_letter": lambda cs, k: LETTERS[len(cs) - 1],
    "longest_option": lambda cs, k: _longest(cs),
}

SPECS: dict[str, str] = {
    "letter": """
Answer with the letter of the correct option.
Pick the right answer and reply with its letter only.
Which option is correct? Give just the letter.
Task: choose the correct option and output its capital letter.
Letter of the right answer, please.
Please read the question, decide which of the lettered options is correct, and reply with only that letter.
Just the letter (A, B, C, ...) of the correct choice.
Solve it and answer with the option letter, e.g. B.
Reply with a single capital letter naming the correct option.
Which lettered choice is right?
Select the best option; respond with its letter and nothing more.
Give the capital letter that labels the correct answer.
--
Return the uppercase label of the right option.
Which letter marks the correct choice?
Instruction: pick the correct option and state its letter.
Identify the right option by its letter alone.
--
answer with the letter of the correct option
give the letter of the right answer
reply with the letter of the correct choice
pick the correct option and give its letter
--
name the right option by its letter
state the letter that labels the correct answer
""",
    "letter_lower": """
Answer with the letter of the correct option in lower case.
Pick the right answer and reply with its letter as a small letter.
Which option is correct? Give the letter in lowercase.
Task: choose the correct option and output its letter, lowercase (a, b, c, ...).
Lowercase letter of the right answer, please.
Please solve the question and reply with the letter of the correct option written as a lowercase letter.
Just the small letter of the correct choice.
Solve it and answer with the lowercase option letter, e.g. b.
Reply with a single lowercase letter naming the correct option.
Which lettered choice is right? Write the letter in small type.
Select the best option; respond with its letter in minuscule.
Give the correct option's label as a lower-case letter.
--
Return the lowercase label of the right option.
Which letter marks the correct choice? Write it in lower case.
Instruction: pick the correct option and state its letter without capitalising it.
Identify the right option by its letter, written small.
""",
    "letter_paren": """
Answer with the letter of the correct option in parentheses, like (B).
Pick the right answer and reply with its letter wrapped in round brackets.
Which option is correct? Give the letter inside parentheses.
Task: output the correct option's letter as (A), (B), (C), ...
Bracketed letter of the right answer, please.
Please solve the question and reply with the correct letter between an opening and a closing parenthesis.
Just the correct letter, in parentheses.
Solve it and answer like this: (C).
Reply with the correct option's capital letter enclosed in round brackets.
Which lettered choice is right? Put the letter in brackets like (A).
Select the best option; respond with its letter in parentheses.
Give the correct label in the form (letter).
--
Return the right option's letter surrounded by parentheses.
Which letter marks the correct choice? Write it as (X).
Instruction: give the correct option's letter inside round brackets.
Identify the right option with its letter between parentheses.
""",
    "text": """
Answer with the text of the correct option.
Pick the right answer and write out what it says.
Which option is correct? Give its wording, not its letter.
Task: choose the correct option and output its text exactly.
Text of the right answer, please.
Please solve the question and reply with the full wording of the correct option, leaving out the letter.
Just the answer itself, without the letter.
Solve it and copy the correct option's text.
Reply with the words of the correct choice.
What does the correct option say?
Select the best option; respond with its content only.
Write the correct answer as it appears after its letter.
--
Return the wording of the right option.
Copy out the correct choice without its label.
Instruction: give the content of the correct option.
State the correct answer in words rather than by letter.
--
answer with the text of the correct option
write out the correct answer
give the wording of the right option
copy the text of the correct choice
--
state the content of the right option
spell out what the correct choice says
""",
    "text_upper": """
Answer with the text of the correct option in capital letters.
Pick the right answer and write out what it says, all in caps.
Which option is correct? Give its wording in upper case.
Task: output the correct option's text, uppercased.
Text of the right answer in CAPITALS, please.
Please solve the question and reply with the wording of the correct option, with every letter capitalised.
Just the answer itself, shouted in capitals.
Solve it and copy the correct option's text in upper case.
Reply with the words of the correct choice in block capitals.
What does the correct option say? Write it in uppercase.
Select the best option; respond with its content in all caps.
Write the correct answer in capital letters, without its label.
--
Return the wording of the right option converted to uppercase.
Copy out the correct choice in capitals, no label.
Instruction: give the content of the correct option with all letters capitalised.
State the correct answer in words, all uppercase.
""",
    "number": """
Answer with the number of the correct option (A is 1, B is 2, ...).
Which option is correct? Give its position as a number.
Task: output the 1-based index of the correct option.
Pick the right answer and reply with its number, counting the first option as 1.
Number of the right answer, please.
Please solve the question and tell me which option is right as a number: 1 for the first, 2 for the second, and so on.
Give the correct option's position, not its letter.
Solve it and answer with a digit, e.g. 2 for option B.
Reply with the ordinal position of the correct choice as a numeral.
Which option is correct, counting from one?
Translate the correct letter into a number (A=1) and reply with that.
Respond with the position of the right option in the list.
--
Return the index of the correct choice, starting at 1.
Convert the letter of the correct option into its number and give that.
Instruction: state which option is right as a position number.
Counting from 1, which place does the correct option occupy?
--
answer with the number of the correct option
give the position of the right answer as a number
reply with the index of the correct choice counting from one
give the correct option's number
--
state which place the right option occupies
convert the correct letter into a number
""",
    "line": """
Answer with the full line of the correct option, letter and text.
Copy the whole correct option, including its letter, e.g. B) Paris.
Which option is correct? Give its letter and its text as written.
Task: output the correct option exactly as shown, label included.
Full correct line, please.
Please solve the question and reply with the entire line of the right option, starting with its letter and bracket.
Give the correct choice in the form letter, bracket, text.
Solve it and quote the whole correct option line.
Reply with the correct option's label followed by its wording.
Repeat the right option exactly as it appears in the list.
Copy out the correct line from the options, letter and all.
Write the correct answer with its letter prefix, e.g. C) twelve.
--
Return the complete line of the correct option as displayed.
Give both the letter and the wording of the right choice, in the listed format.
Instruction: reproduce the correct option's line verbatim.
Quote the correct choice together with its label.
""",
    "is_a": """
Is option A the correct answer? Reply yes or no.
Answer yes if the first option is right, no otherwise.
Check whether A is correct: yes or no.
Task: say yes when the correct answer is option A, else no.
Is the answer A?
Please solve the question, then tell me only whether the correct choice is the one labelled A, with yes or no.
Yes if A is right, no if some other option is.
Decide whether the first listed option is the correct one.
Does the right answer happen to be option A? yes or no
Is the correct option the first one? Answer yes or no.
Verify whether A is the answer and reply with yes or no.
Is choice A correct?
--
Return yes exactly when the correct choice is labelled A.
Is the top option the right one, yes or no?
Instruction: answer whether option A is correct.
Would you pick A here? Reply yes or no.
--
say whether option a is the correct answer
answer yes if the first option is right and no otherwise
check whether a is correct
tell whether the right answer is option a
--
decide if the first listed option is correct
say yes or no to whether choice a is right
""",
    "first_wrong": """
Give the letter of the first option that is wrong.
Which is the first incorrect option? Reply with its letter.
Task: output the letter of the earliest option that is not the correct answer.
Name the first wrong choice by its letter.
Letter of the first wrong answer, please.
Please solve the question and then reply with the letter of the first option in the list that is incorrect.
Point to the first distractor: just its letter.
Find the first wrong option, e.g. if A is right, answer B.
Reply with the letter of the topmost incorrect choice.
Which option, going down the list, is the first mistake?
Give the first option letter that would be marked wrong.
Identify the first distractor by letter.
--
Return the label of the earliest incorrect option.
Going from the top, which option is the first one that is not right? Letter only.
Instruction: give the letter of the first wrong answer in the list.
Name the first option you would rule out as incorrect.
""",
    "count_options": """
How many options are there?
Count the answer options.
Give the number of choices.
Task: return how many options the question offers.
Don't answer the question; just count its options.
Please count the lettered options listed under the question and reply with that number.
Option count only.
Count the choices, e.g. A to D -> 4.
How many possible answers are offered?
Tell me how many lettered choices there are.
Number of options, please (no need to solve it).
Output how many options follow the question.
--
Return the number of listed choices.
How many alternatives does this item give?
Instruction: count the options, ignoring which is correct.
Say how many answers to choose from there are.
--
count the answer options
give the number of choices
say how many options there are
count the lettered choices
--
tell how many alternatives are offered
give how many answers there are to choose from
""",
    "first_option": """
What does option A say?
Copy the text of the first option.
Give the wording of option A, whether or not it is correct.
Task: output the text of the first listed option.
Repeat the first choice, without its letter.
Please ignore which answer is right and just write out the text of option A.
First option's text only.
Copy option A, e.g. A) red -> red.
Read out the first choice.
What is written next to the letter A?
Give me the first alternative exactly as written.
Output whatever option A contains.
--
Return the content of the option labelled A.
Write down the top choice's text.
Instruction: copy the first option, no need to solve anything.
Which text is listed as option A?
--
copy the text of option a
give the wording of the first option
write out the first choice
repeat what option a says
--
read out the top choice
copy the first alternative's text
""",
    "last_option": """
What does the last option say?
Copy the text of the final option.
Give the wording of the last choice, whether or not it is correct.
Task: output the text of the last listed option.
Repeat the final choice, without its letter.
Please ignore which answer is right and just write out the text of the bottom option.
Last option's text only.
Copy the final option, e.g. C) blue -> blue.
Read out the last choice.
What is written in the final option?
Give me the last alternative exactly as written.
Output whatever the bottom option contains.
--
Return the content of the final listed option.
Write down the bottom choice's text.
Instruction: copy the last option, no need to solve anything.
Which text is listed as the final option?
--
copy the text of the last option
give the wording of the final option
write out the last choice
repeat what the bottom option says
--
read out the final choice
copy the last alternative's text
""",
    "last_letter": """
What is the letter of the last option?
Give the letter that labels the final choice.
Task: output the letter of the bottom option.
Which letter do the options go up to?
Last option letter, please.
Please don't solve the question; just tell me the letter used for the final option.
Just the final option's label.
Give the last label, e.g. options A to D -> D.
What letter is the final alternative marked with?
Up to which letter do the choices run?
Reply with the letter shown on the last line.
Output the label of the final choice.
--
Return the label letter of the bottom option.
Which letter is given to the last choice?
Instruction: name the letter of the final alternative.
What is the highest option letter used?
""",
    "longest_option": """
Which option has the longest text? Copy that text.
Give the longest of the answer options, regardless of correctness.
Task: output the option with the most characters.
Copy the lengthiest choice.
Longest option text, please.
Please compare the options by length only and write out the longest one without its letter.
Don't solve it; just give the wordiest option.
Copy the longest, e.g. A) cat B) elephant -> elephant.
Which alternative is written with the most characters?
Find the option that takes up the most space and repeat it.
Give the longest-looking answer choice.
Output the text of the longest option.
--
Return the option whose text is longest.
Copy out the wordiest alternative.
Instruction: by length alone, pick the longest choice and write it.
Which listed answer has the most letters? Write it out.
""",
}


def _answer(items: dict[str, tuple[tuple[str, ...], int]], fn) -> Callable[[str], str | None]:
    def answer(x: str) -> str | None:
        if x not in items:
            return None
        out = fn(*items[x])
        return None if out is None else str(out)
    return answer


def register(reg: Registry) -> None:
    """Needs the local BIG-bench cache (raises training.bigbench_source.BigBenchError without it)."""
    items = load_items()
    reg.add_pool(Pool(POOL, tuple(items), source=SOURCE))
    for key, spec in SPECS.items():
        reg.ops.append(make_op(f"mc.{key}", POOL, _answer(items, ANSWERS[key]), spec, source=SOURCE))
