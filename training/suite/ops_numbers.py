"""Operations on a bare whole number ("17" -> "34", "seventeen", "odd", "XVII", "8", "yes", ...).

Pool "number": 1..100 plus 300 numbers drawn from 101..999 with a fixed seed (400 inputs, written in digits).

Sources and licences
    python    every answer is computed here with the standard library (number words, ordinals and Roman numerals
              are written out below, following the conventions of num2words' English output: "one hundred and
              seventeen", "twenty-one"); no third-party package, no data file.

`make_op` (also used by ops_lists, ops_sentences and ops_bigbench) builds an Op from a text block: training
descriptions, then `--`, evaluation descriptions, then optionally `--` training clauses and `--` evaluation clauses,
one per line.
"""

from __future__ import annotations

import random
from typing import Callable

from training.suite.core import Op, Pool, Registry

POOL = "number"


def make_op(name: str, pool: str, answer: Callable[[str], str | None], spec: str, source: str = "python") -> Op:
    """An Op from a spec block (see module doc): sections separated by lines holding only `--`."""
    sections = [[line.strip() for line in block.strip().splitlines() if line.strip()]
                for block in ("\n" + spec.strip() + "\n").split("\n--\n")]
    if len(sections) not in (2, 4):
        raise ValueError(f"{name}: a spec needs 2 or 4 sections, got {len(sections)}")
    train, evals = tuple(sections[0]), tuple(sections[1])
    clauses, eval_clauses = (tuple(sections[2]), tuple(sections[3])) if len(sections) == 4 else ((), ())
    return Op(name=name, pool=pool, answer=answer, train=train, eval=evals, clauses=clauses,
              eval_clauses=eval_clauses, source=source)


# ---- number words (num2words-style English), ordinals, Roman numerals -------------------------------------------
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                      "nine": "ninth", "twelve": "twelfth"}


def number_words(n: int) -> str:
    """0..999 in English words: 21 -> "twenty-one", 117 -> "one hundred and seventeen"."""
    if not 0 <= n <= 999:
        raise ValueError(n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(n, 100)
    return f"{_ONES[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")


def ordinal_words(n: int) -> str:
    """17 -> "seventeenth", 21 -> "twenty-first", 100 -> "one hundredth"."""
    words = number_words(n)
    head, sep, last = max(words.rpartition(" "), words.rpartition("-"), key=lambda p: len(p[0]))
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def ordinal_suffix(n: int) -> str:
    """17 -> "17th", 22 -> "22nd", 113 -> "113th"."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def roman(n: int) -> str:
    """1..3999 -> Roman numeral: 14 -> "XIV"."""
    out = []
    for value, sym in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                       (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
        count, n = divmod(n, value)
        out.append(sym * count)
    return "".join(out)


def is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def number_pool() -> Pool:
    rng = random.Random("t2l-suite:number")
    items = list(range(1, 101)) + sorted(rng.sample(range(101, 1000), 300))
    return Pool(POOL, tuple(str(n) for n in items))


def _int(fn: Callable[[int], object]) -> Callable[[str], str | None]:
    def answer(x: str) -> str | None:
        out = fn(int(x))
        return None if out is None else str(out)
    return answer


def _digits(n: int) -> list[int]:
    return [int(c) for c in str(n)]


def _smallest_factor(n: int) -> int | None:
    if n < 2:
        return None
    return next(d for d in range(2, n + 1) if n % d == 0)


def _product(ds: list[int]) -> int:
    out = 1
    for d in ds:
        out *= d
    return out


ANSWERS: dict[str, Callable[[int], object]] = {
    "double": lambda n: 2 * n,
    "half": lambda n: n // 2 if n % 2 == 0 else None,
    "add_one": lambda n: n + 1,
    "subtract_one": lambda n: n - 1,
    "square": lambda n: n * n if n <= 50 else None,
    "digit_sum": lambda n: sum(_digits(n)),
    "num_digits": lambda n: len(str(n)),
    "last_digit": lambda n: n % 10,
    "first_digit": lambda n: str(n)[0],
    "reverse_digits": lambda n: str(n)[::-1] if n >= 10 and n % 10 else None,
    "parity": lambda n: "even" if n % 2 == 0 else "odd",
    "is_prime": lambda n: yes_no(is_prime(n)),
    "divisible_by_three": lambda n: yes_no(n % 3 == 0),
    "in_words": number_words,
    "ordinal_words": ordinal_words,
    "ordinal_suffix": ordinal_suffix,
    "roman": roman,
    "round_ten": lambda n: (n + 5) // 10 * 10,
    "binary": lambda n: format(n, "b"),
    "hexadecimal": lambda n: format(n, "X"),
    "is_square": lambda n: yes_no(round(n ** 0.5) ** 2 == n),
    "is_palindrome": lambda n: yes_no(str(n) == str(n)[::-1]) if n >= 10 else None,
    "tens_digit": lambda n: (n // 10) % 10 if n >= 10 else None,
    "digit_product": lambda n: _product(_digits(n)) if n >= 10 else None,
    "smallest_factor": _smallest_factor,
    "negative": lambda n: -n,
    "largest_digit": lambda n: max(_digits(n)) if n >= 10 else None,
    "sort_digits": lambda n: "".join(sorted(str(n))) if n >= 10 else None,
    "repeat": lambda n: f"{n}{n}",
    "spaced_digits": lambda n: " ".join(str(n)) if n >= 10 else None,
    "pad_three": lambda n: f"{n:03d}" if n < 100 else None,
}

SPECS: dict[str, str] = {
    "double": """
Double the number.
Multiply the number by two.
Give me twice this number.
What is this number times 2?
Task: return the number doubled.
Please work out double the value you are given and reply with just the result.
Twice as much, please.
Write the number you get when you add the number to itself.
You'll see a whole number. Answer with two times that number, e.g. 12 -> 24.
Make it twice as big.
Could you double this for me?
Output the value multiplied by two, nothing else.
--
Return 2 times the given number.
How much is the number when doubled?
Instruction: the answer is the input number taken twice over, summed.
Scale the number up by a factor of two.
--
double the number
multiply the number by two
give twice the number
work out two times the number
--
take the number times two
return the doubled value
""",
    "half": """
Halve the number.
Divide the number by two.
What is half of this number?
Give me half of it.
Task: return the number divided by 2.
Cut the number in half and write the result.
Please split this even number into two equal parts and tell me the size of one part.
One half of the value, please.
You get an even number; answer with exactly half of it, e.g. 18 -> 9.
How much is 50% of this number?
Reply with the number halved, no explanation.
Take the number and divide it evenly by two.
--
What do you get if you halve this?
Return the given number over two.
Instruction: output half the value of the input.
Share the number equally between two people: how much does each get?
--
halve the number
divide the number by two
give half of the number
cut the number in half
--
take one half of the number
split the number into two equal halves and give one
""",
    "add_one": """
Add one to the number.
What number comes right after this one?
Give the next number.
Increase the number by one.
Task: return the successor of the given integer.
Count up by one from this number.
Please tell me which whole number follows this one when counting.
Plus one.
Reply with the number that is one more, e.g. 17 -> 18.
Increment it.
What would you say next if you were counting and just said this number?
Output the input plus 1 and nothing else.
--
Return the number one larger than the input.
Which integer immediately follows the given one?
Bump the number up by a single unit.
Instruction: give the number that comes next in counting order.
--
add one to the number
give the next number
increase the number by one
give the number that comes after it
--
count one step up from the number
increment the number
""",
    "subtract_one": """
Subtract one from the number.
What number comes right before this one?
Give the previous number.
Decrease the number by one.
Task: return the predecessor of the given integer.
Count down by one from this number.
Please tell me which whole number comes just before this one when counting.
Minus one.
Reply with the number that is one less, e.g. 17 -> 16.
Decrement it.
Take away 1 and tell me what's left.
Output the input minus 1 and nothing else.
--
Return the number one smaller than the input.
Which integer immediately precedes the given one?
Lower the number by a single unit.
Instruction: give the number that comes before it in counting order.
--
subtract one from the number
give the previous number
decrease the number by one
give the number that comes before it
--
count one step down from the number
decrement the number
""",
    "square": """
Square the number.
Multiply the number by itself.
What is this number squared?
Give the square of the number.
Task: return n times n for the given n.
Raise the number to the power of two.
Please compute the number multiplied by itself and reply with the product.
Number squared, please.
Return the second power of the input, e.g. 7 -> 49.
What's the area of a square whose side is this long?
Output the square of the value only.
Work out this number times itself.
--
Return the input raised to the second power.
How much is the number when multiplied by the same number?
Instruction: output the square of the given integer.
Compute the number to the power 2.
""",
    "digit_sum": """
Add up the digits of the number.
What is the sum of the digits?
Give the digit sum.
Sum all the digits.
Task: return the total of the number's digits.
Add each digit of the number together and tell me the total.
Please compute the sum of the individual digits of this number.
Digit sum only.
Add the digits, e.g. 482 -> 14.
What do the digits add up to?
Treat every digit as a separate number and give their sum.
Output the sum of the number's decimal digits.
--
Return the result of adding the digits one by one.
How much do you get by summing each digit?
Instruction: total the digits of the input.
Find the cross sum of the number.
--
add up the digits of the number
give the sum of the digits
sum the digits
total the digits of the number
--
add all the digits together
work out the digit sum
""",
    "num_digits": """
How many digits does the number have?
Count the digits.
Give the number of digits.
Task: return how many digits are used to write the number.
Tell me the length of the number in digits.
Please count how many digits appear when this number is written out in numerals.
Digit count only.
How long is the number, counted in digits? For example 345 -> 3.
Is it a one-, two- or three-digit number? Answer 1, 2 or 3.
Reply with the count of digits.
How many characters long is the number?
Output the number of digits in the input.
--
Return the number of digits in the given integer.
Count how many numerals make up the number.
Instruction: say how many digits the input has.
What is the digit length of this number?
--
count the digits
give the number of digits
say how many digits the number has
give the length of the number in digits
--
count how many digits it has
tell how many digits make up the number
""",
    "last_digit": """
What is the last digit?
Give the final digit of the number.
Return the rightmost digit.
Task: output the units digit.
Tell me the digit the number ends with.
Please look at the number and reply with its very last digit only.
Last digit only.
Which digit is in the ones place? e.g. 482 -> 2.
What does the number end in?
Give me the ones digit.
Reply with the digit at the end.
Output the trailing digit of the input.
--
Return the digit in the units position.
Which digit closes the number?
Instruction: give the final digit of the input.
What is the right-most digit of this number?
--
give the last digit
give the final digit of the number
give the units digit
say which digit the number ends with
--
return the ones digit
name the digit at the end of the number
""",
    "first_digit": """
What is the first digit?
Give the leading digit of the number.
Return the leftmost digit.
Task: output the first digit of the number.
Tell me the digit the number starts with.
Please look at the number and reply with its very first digit only.
First digit only.
Which digit comes first? e.g. 482 -> 4.
What does the number begin with?
Give me the leading digit.
Reply with the digit at the start.
Output the most significant digit of the input.
--
Return the digit in the highest position.
Which digit opens the number?
Instruction: give the initial digit of the input.
What is the left-most digit of this number?
--
give the first digit
give the leading digit of the number
say which digit the number starts with
give the leftmost digit
--
return the digit at the front of the number
name the opening digit
""",
    "reverse_digits": """
Reverse the digits.
Write the number backwards.
Give the digits in reverse order.
Task: output the number with its digits reversed.
Flip the number around.
Please read the digits from right to left and write them down in that order.
Mirror the digits.
Reverse it, e.g. 123 -> 321.
What does the number look like written back to front?
Turn the digit order around.
Reply with the digits from last to first.
Output the input reversed digit by digit.
--
Return the number read from right to left.
Invert the order of the digits.
Instruction: write the digits backwards.
Spell the number in digits starting from the end.
--
reverse the digits
write the number backwards
put the digits in reverse order
flip the order of the digits
--
read the digits from right to left
write the number back to front
""",
    "parity": """
Is the number odd or even?
Say whether the number is even or odd.
Odd or even?
Task: classify the number as odd or even.
Give the parity of the number.
Please tell me if this number can be split into two equal whole halves (even) or not (odd).
Answer "odd" or "even".
Check the parity and reply with one word: odd or even.
Decide whether it is an even number or an odd number.
Even or odd, which is it?
What is the parity of this integer?
Label the number as even or odd.
--
Return "even" when the number is divisible by two and "odd" otherwise.
Classify the parity of the input.
Instruction: respond with odd or even.
Would you call this number odd, or even?
--
say whether the number is odd or even
give the parity of the number
classify the number as odd or even
tell whether it is even or odd
--
label the number odd or even
state its parity
""",
    "is_prime": """
Is the number prime?
Is this a prime number? Answer yes or no.
Tell me whether the number is prime.
Task: answer yes if the number is prime, no otherwise.
Prime or not? Reply yes or no.
Please check whether this number has no divisors other than 1 and itself, and answer yes or no.
Primality check: yes or no.
Decide if the number is a prime.
Can this number only be divided evenly by 1 and itself?
Say yes for a prime, no for anything else.
Is it prime?
Answer yes or no: is the given integer a prime number?
--
Return yes when the input is a prime and no when it is not.
Would a mathematician call this number prime? yes or no
Instruction: test the number for primality.
Is the integer a prime, yes or no?
--
say whether the number is prime
tell if the number is a prime
answer yes or no to whether it is prime
check if the number is prime
--
test whether the number is prime
decide if it is a prime number
""",
    "divisible_by_three": """
Is the number divisible by three?
Can this number be divided by 3 with no remainder? yes or no
Tell me whether the number is a multiple of three.
Task: answer yes if three divides the number evenly.
Divisible by 3? Reply yes or no.
Please check whether the number splits into three equal whole parts and answer yes or no.
Is it in the three times table?
Decide whether 3 goes into the number exactly.
Does the number leave remainder zero when divided by three?
Multiple of three: yes or no.
Answer yes or no: is the given integer divisible by three?
Say yes if you can share this many sweets fairly among three children, no otherwise.
--
Return yes when 3 is a factor of the input, otherwise no.
Is this a multiple of 3?
Instruction: check divisibility by three.
Does three divide the number evenly, yes or no?
--
say whether the number is divisible by three
tell if the number is a multiple of three
check if three divides the number
answer yes or no to whether three goes into it evenly
--
test the number for divisibility by three
decide if the number is in the three times table
""",
    "in_words": """
Write the number in words.
Spell out the number.
How do you write this number in English words?
Task: convert the digits to words.
Give the number written out as words.
Please write this number the way you would spell it on a cheque.
In words, please.
Spell it out, e.g. 17 -> seventeen.
Convert the numeral into English words.
Say the number in words instead of digits.
Write out the name of the number.
Express the number in words, lowercase.
--
Return the English words for the given number.
Spell the integer in letters.
Instruction: write the number out in full words.
How would you say this number aloud? Write it down.
--
write the number in words
spell out the number
give the number in english words
write out the number in letters
--
convert the number to words
spell the number in full
""",
    "ordinal_words": """
Write the ordinal of the number in words.
Give the ordinal word, like "seventeenth".
Spell out the number as an ordinal.
Task: convert the number to its ordinal in words.
What is the position word for this number (first, second, third, ...)?
Please write the ordinal form of this number in English words.
Ordinal in words, please.
Spell the ordinal, e.g. 21 -> twenty-first.
If someone finished in this place, how would you spell their position?
Turn the number into a spelled-out ordinal.
Write the number as a rank word.
Express the number as an ordinal word in lowercase.
--
Return the English ordinal word for the given number.
Say which place this is, spelled in full.
Instruction: write the spelled-out ordinal of the input.
How do you write this position as an ordinal word?
--
write the ordinal of the number in words
spell out the ordinal of the number
give the ordinal word for the number
turn the number into a spelled ordinal
--
spell the number as a rank word
write the position word for the number
""",
    "ordinal_suffix": """
Add the ordinal suffix to the number.
Write the number as an ordinal in digits, like 17th.
Give the number with st, nd, rd or th.
Task: convert the number to a numeric ordinal.
What is the short ordinal form of this number?
Please write this number as a position using digits and the right two-letter ending.
Ordinal in figures, please.
Add the right ending, e.g. 22 -> 22nd.
Turn the number into a place like 1st, 2nd or 3rd.
Write it as a numeric ranking.
Append the correct ordinal ending.
Express the number as an abbreviated ordinal.
--
Return the digits followed by the proper ordinal suffix.
How do you abbreviate this position (e.g. 43rd)?
Instruction: attach st, nd, rd or th to the number as appropriate.
Give the ordinal written with numerals.
--
add the ordinal suffix to the number
write the number as an ordinal in digits
give the number with its ordinal ending
write the number like 1st or 2nd
--
attach the right ordinal ending
turn the number into a numeric ordinal
""",
    "roman": """
Write the number in Roman numerals.
Convert the number to Roman numerals.
What is this number in Roman numerals?
Task: give the Roman numeral for the number.
Roman numerals, please.
Please express this number the way the ancient Romans wrote it, with letters like I, V, X, L, C, D and M.
Turn it into a Roman numeral, e.g. 14 -> XIV.
How would this number look on a clock face with Roman numerals?
Give the Roman form.
Rewrite the number using Roman letters.
Output the number as uppercase Roman numerals.
Translate the Arabic numeral into a Roman one.
--
Return the Roman numeral representation of the input.
Encode the number in Roman numerals.
Instruction: write the given integer the Roman way.
Which Roman numeral stands for this number?
--
write the number in roman numerals
convert the number to a roman numeral
give the roman numeral for the number
express the number with roman letters
--
turn the number into roman numerals
rewrite the number the roman way
""",
    "round_ten": """
Round the number to the nearest ten.
Round it to the closest multiple of 10.
What is the number rounded to tens?
Task: round to the nearest ten (halves go up).
Give the nearest multiple of ten.
Please round this number to the nearest ten, rounding a 5 in the units place upwards.
Round to tens.
Round it, e.g. 47 -> 50 and 43 -> 40.
Which multiple of ten is closest to the number?
Roughly how much is it, to the nearest ten?
Round off the units digit.
Output the number rounded to one significant ten.
--
Return the input rounded to the nearest 10.
Approximate the number to the closest ten.
Instruction: round the value to tens.
What ten is this number nearest to?
--
round the number to the nearest ten
round it to the closest multiple of ten
give the nearest multiple of ten
round the number to tens
--
approximate the number to the nearest ten
round off to the closest ten
""",
    "binary": """
Write the number in binary.
Convert the number to base 2.
What is this number in binary?
Task: give the binary representation.
Binary, please.
Please convert this decimal number into ones and zeros.
Express the number in base two, e.g. 5 -> 101.
How would a computer write this number in bits?
Turn the decimal into binary digits.
Give the base-2 form without a prefix.
Rewrite the number using only 0 and 1.
Output the binary numeral for the input.
--
Return the input converted to base two.
Encode the number in binary.
Instruction: write the integer as a binary string.
Which string of bits stands for this number?
--
write the number in binary
convert the number to base two
give the binary form of the number
express the number in bits
--
turn the number into binary
rewrite the number in base two
""",
    "hexadecimal": """
Write the number in hexadecimal.
Change the number into base-16 notation.
What is this number in hex?
Task: give the hexadecimal representation in capitals.
Hex, please.
Please convert this decimal number to hexadecimal, using capital letters for the digits A to F.
Express the number in base sixteen, e.g. 255 -> FF.
How would a programmer write this number in hex?
Turn the decimal into hexadecimal digits.
Give the base-16 form without 0x.
Rewrite the number using the digits 0-9 and A-F.
Output the hex numeral for the input.
--
Return the input converted to base sixteen.
Encode the number as hexadecimal.
Instruction: write the integer in hex with uppercase letters.
Which hexadecimal numeral stands for this number?
--
write the number in hexadecimal
convert the number to base sixteen
give the hex form of the number
express the number in hex
--
turn the number into hexadecimal
rewrite the number in base sixteen
""",
    "is_square": """
Is the number a perfect square?
Is this a square number? Answer yes or no.
Tell me whether the number is the square of a whole number.
Task: answer yes if the number is a perfect square.
Perfect square? yes or no.
Please check whether some whole number times itself gives exactly this number, and answer yes or no.
Could you arrange this many dots into a full square grid?
Decide whether the number has a whole square root.
Is its square root a whole number?
Say yes for a square number like 49, no otherwise.
Square number or not?
Answer yes or no: is the given integer a perfect square?
--
Return yes when the input equals k times k for some integer k.
Does the number have an integer square root, yes or no?
Instruction: check whether it is a perfect square.
Is this one of the square numbers?
""",
    "is_palindrome": """
Is the number a palindrome?
Does the number read the same forwards and backwards? yes or no
Tell me whether the number is palindromic.
Task: answer yes if the digits are symmetric.
Palindrome? Reply yes or no.
Please check whether writing the digits backwards gives the same number, and answer yes or no.
Is it the same number when reversed?
Decide whether the number is a palindrome, like 121.
Would the number look the same in a mirror of its digit order?
Say yes if the number is symmetric, no if it is not.
Numeric palindrome check: yes or no.
Answer yes or no: is the given integer a palindrome?
--
Return yes when the digits read identically in both directions.
Is the number unchanged by reversing its digits, yes or no?
Instruction: check whether the number is a palindrome.
Does the digit sequence mirror itself?
""",
    "tens_digit": """
What is the tens digit?
Give the digit in the tens place.
Return the second digit from the right.
Task: output the tens digit of the number.
Tell me how many tens the number has, just the digit.
Please look at the number and reply with the digit just left of the units digit.
Tens digit only.
Which digit is in the tens place? e.g. 482 -> 8.
Give me the tens-column digit.
Read off the tens digit.
What digit sits in the tens position?
Output the digit in the 10s column of the input.
--
Return the digit occupying the tens position.
Which digit counts the tens in this number?
Instruction: give the tens digit of the input.
What's the digit next to the ones digit, on its left?
""",
    "digit_product": """
Multiply the digits of the number together.
What is the product of the digits?
Give the digit product.
Multiply all the digits.
Task: return the product of the number's digits.
Multiply each digit of the number and tell me the result.
Please compute the product of the individual digits of this number.
Product of digits only.
Multiply the digits, e.g. 234 -> 24.
What do the digits multiply to?
Treat every digit as a separate factor and give their product.
Output the digits multiplied together.
--
Return the result of multiplying the digits one by one.
How much do you get by multiplying each digit?
Instruction: find the product of the input's digits.
Take the digits as factors and multiply them.
--
multiply the digits of the number
give the product of the digits
multiply all the digits together
work out the digit product
--
find what the digits multiply to
take the product of every digit
""",
    "smallest_factor": """
What is the smallest prime factor of the number?
Give the smallest prime that divides the number.
Return the least prime divisor.
Task: output the smallest prime factor.
Which prime divides this number first?
Please find the smallest prime number that goes into this number exactly.
Smallest prime factor only.
Find the lowest prime factor, e.g. 15 -> 3.
What is the first prime in its factorisation?
Give the least divisor greater than one.
Which is the tiniest prime that the number is a multiple of?
Output the smallest factor above 1.
--
Return the minimal prime divisor of the input.
Which smallest prime goes into the number evenly?
Instruction: name the least prime factor.
What is the lowest number above one that divides it?
""",
    "negative": """
Make the number negative.
Give the negative of the number.
Put a minus sign in front of the number.
Task: return the additive inverse.
What is the opposite of this number?
Please write this number as a negative value.
Negate it.
Flip the sign, e.g. 17 -> -17.
Write the number below zero with the same size.
Multiply the number by minus one.
Give the number with a minus sign.
Output zero minus the number.
--
Return the input with its sign reversed.
What do you get when you negate the number?
Instruction: give the negative version of the value.
Turn the number into its negative counterpart.
--
make the number negative
negate the number
put a minus sign before the number
flip the sign of the number
--
give the opposite of the number
turn the number negative
""",
    "largest_digit": """
What is the largest digit in the number?
Give the biggest digit.
Return the highest digit.
Task: output the maximum digit.
Which digit in the number is the greatest?
Please look at all the digits and reply with the largest one.
Biggest digit only.
Find the highest digit, e.g. 482 -> 8.
What's the top digit among its digits?
Give me the maximum of the digits.
Which digit has the highest value?
Output the greatest digit that appears.
--
Return the maximal digit of the input.
Among the digits, which is largest?
Instruction: name the biggest digit in the number.
Pick the digit with the greatest value.
--
give the largest digit
find the biggest digit
pick the highest digit
give the greatest digit of the number
--
name the maximum digit
say which digit is biggest
""",
    "sort_digits": """
Sort the digits in ascending order.
Rearrange the digits from smallest to largest.
Put the digits in increasing order.
Task: output the digits sorted low to high.
Order the digits ascending and write them together.
Please reorder the digits of this number so they go from the smallest digit to the biggest.
Digits sorted, please.
Sort the digits, e.g. 482 -> 248.
Arrange its digits in rising order.
Write the same digits, but sorted upwards.
Rearrange the number's digits in ascending order.
Output the digits ordered from lowest to highest.
--
Return the input's digits arranged in non-decreasing order.
Order the digits from least to greatest.
Instruction: sort the number's digits upward.
Reshuffle the digits so they increase left to right.
""",
    "repeat": """
Write the number twice.
Repeat the number two times with no space.
Say the number twice in a row.
Task: output the digits of the number two times over.
Duplicate the number.
Please write this number and then write it again right after, without anything in between.
Twice in a row, please.
Repeat it, e.g. 17 -> 1717.
Copy the number and stick the copy on the end.
Write it out two times back to back.
Echo the number twice.
Concatenate the number with itself.
--
Return the input written two times consecutively.
Glue the number to a copy of itself.
Instruction: repeat the digits once more after themselves.
Write the number, then write it once more.
--
write the number twice
repeat the number two times
duplicate the number
write the number and then write it again
--
concatenate the number with itself
echo the number back twice
""",
    "spaced_digits": """
Put a space between the digits.
Separate the digits with spaces.
Write the digits apart from each other.
Task: insert a space between every two digits.
Spread out the digits.
Please write the number so that each digit is separated from the next by one space.
Spaced-out digits, please.
Space the digits, e.g. 482 -> 4 8 2.
List the digits one by one with spaces.
Split the number into its digits, separated by spaces.
Write each digit as its own token.
Output the digits with single spaces in between.
--
Return the digits of the input separated by blanks.
Break the number into space-separated digits.
Instruction: put one space between adjacent digits.
Write the digits individually, side by side with gaps.
--
put a space between the digits
separate the digits with spaces
write the digits spaced apart
split the number into spaced digits
--
spread the digits out with spaces
insert spaces between the digits
""",
    "pad_three": """
Pad the number with zeros to three digits.
Write the number with leading zeros so it has three digits.
Give a three-digit version with zeros in front.
Task: zero-pad the number to width 3.
Add leading zeros until it's three digits long.
Please write this number as a three-digit code, filling the front with zeros.
Zero-padded to 3 digits, please.
Pad it, e.g. 7 -> 007 and 42 -> 042.
Format the number like a three-digit ticket number.
Fill the number out to three places with zeros.
Write it as three digits, padding on the left.
Output the number left-padded with 0s to length 3.
--
Return the input with zeros prepended to reach three digits.
Show the number in a fixed three-digit format.
Instruction: left-pad the value with zeros to three characters.
How would it look as a three-digit counter reading?
""",
}


def register(reg: Registry) -> None:
    reg.add_pool(number_pool())
    for key, spec in SPECS.items():
        reg.ops.append(make_op(f"number.{key}", POOL, _int(ANSWERS[key]), spec))
