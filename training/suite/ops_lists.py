"""Operations on short comma-separated lists of numbers ("4, 9, 2, 7") and of words ("cat, apple, river").

Pools (generated with fixed seeds, every item distinct):
    list.num    400 lists of 3-6 whole numbers from 1..20 (about a third with a repeated number, about a fifth
                already sorted), written "4, 9, 2, 7"
    list.word   300 lists of 3-5 distinct common English nouns, written "cat, apple, river"

Sources and licences
    python    the inputs are generated here from a hand-written list of common nouns, and every answer is computed
              with the standard library; no package, no data file.
"""

from __future__ import annotations

import random
from typing import Callable

from training.suite.core import Pool, Registry
from training.suite.ops_numbers import make_op, yes_no

NUM_POOL = "list.num"
WORD_POOL = "list.word"
SEP = ", "

NOUNS = tuple("""
cat dog apple river bread chair lamp horse table window garden pencil orange tiger cloud stone bottle rabbit
ship train clock candle mirror bridge forest island kettle ladder lemon mouse onion pillow rocket spoon tomato
violin wagon zebra anchor basket button carpet dragon eagle feather guitar hammer jacket kitten lizard magnet
needle ocean parrot puzzle quilt shadow ticket umbrella village whistle yacht ant bee egg owl fox sun key cup
""".split())


def _fmt(xs) -> str:
    return SEP.join(str(x) for x in xs)


def _parse_nums(x: str) -> list[int]:
    return [int(t) for t in x.split(SEP)]


def _parse_words(x: str) -> list[str]:
    return x.split(SEP)


def num_list_pool() -> Pool:
    rng = random.Random("t2l-suite:list.num")
    seen: dict[str, None] = {}
    while len(seen) < 400:
        n = rng.randint(3, 6)
        xs = [rng.randint(1, 20) for _ in range(n)]
        r = rng.random()
        if r < 0.3:  # force a repeat
            xs[rng.randrange(n)] = xs[rng.randrange(n)]
        elif r < 0.5:
            xs.sort()
        seen.setdefault(_fmt(xs))
    return Pool(NUM_POOL, tuple(seen))


def word_list_pool() -> Pool:
    rng = random.Random("t2l-suite:list.word")
    seen: dict[str, None] = {}
    while len(seen) < 300:
        seen.setdefault(_fmt(rng.sample(NOUNS, rng.randint(3, 5))))
    return Pool(WORD_POOL, tuple(seen))


def _unique_extreme(xs: list, key, pick) -> object | None:
    """The element with the max/min key, or None when several share it."""
    best = pick(key(x) for x in xs)
    hits = [x for x in xs if key(x) == best]
    return hits[0] if len(hits) == 1 else None


def _second_largest(xs: list[int]) -> int | None:
    distinct = sorted(set(xs), reverse=True)
    return distinct[1] if len(distinct) >= 2 else None


def _has_dup(xs: list) -> bool:
    return len(set(xs)) < len(xs)


NUM_ANSWERS: dict[str, Callable[[list[int]], object]] = {
    "sort_asc": lambda xs: _fmt(sorted(xs)),
    "sort_desc": lambda xs: _fmt(sorted(xs, reverse=True)),
    "max": max,
    "min": min,
    "sum": sum,
    "count": len,
    "first": lambda xs: xs[0],
    "last": lambda xs: xs[-1],
    "second": lambda xs: xs[1],
    "reverse": lambda xs: _fmt(xs[::-1]),
    "dedupe": lambda xs: _fmt(dict.fromkeys(xs)) if _has_dup(xs) else None,
    "product_first_two": lambda xs: xs[0] * xs[1],
    "range": lambda xs: max(xs) - min(xs),
    "join": lambda xs: "".join(map(str, xs)),
    "middle": lambda xs: xs[len(xs) // 2] if len(xs) % 2 else None,
    "count_even": lambda xs: sum(1 for x in xs if x % 2 == 0),
    "is_sorted": lambda xs: yes_no(xs == sorted(xs)),
    "drop_first": lambda xs: _fmt(xs[1:]),
    "drop_last": lambda xs: _fmt(xs[:-1]),
    "second_largest": _second_largest,
    "position_of_max": lambda xs: xs.index(max(xs)) + 1 if xs.count(max(xs)) == 1 else None,
    "first_and_last": lambda xs: _fmt([xs[0], xs[-1]]),
    "double_each": lambda xs: _fmt(2 * x for x in xs),
    "evens": lambda xs: _fmt(x for x in xs if x % 2 == 0) if any(x % 2 == 0 for x in xs) else None,
    "has_duplicates": lambda xs: yes_no(_has_dup(xs)),
}

WORD_ANSWERS: dict[str, Callable[[list[str]], object]] = {
    "sort_alpha": lambda ws: _fmt(sorted(ws)),
    "longest": lambda ws: _unique_extreme(ws, len, max),
    "shortest": lambda ws: _unique_extreme(ws, len, min),
    "first": lambda ws: ws[0],
    "last": lambda ws: ws[-1],
    "count": len,
    "reverse": lambda ws: _fmt(ws[::-1]),
    "join_and": lambda ws: SEP.join(ws[:-1]) + " and " + ws[-1],
    "initials": lambda ws: "".join(w[0] for w in ws),
    "alpha_first": lambda ws: min(ws),
    "capitalise": lambda ws: _fmt(w.capitalize() for w in ws),
    "count_vowel_start": lambda ws: sum(1 for w in ws if w[0] in "aeiou"),
}

NUM_SPECS: dict[str, str] = {
    "sort_asc": """
Sort the numbers in ascending order.
Put the list in order from smallest to largest.
Sort these numbers, lowest first.
Task: return the list sorted in increasing order, comma-separated.
Arrange the numbers from low to high.
Please reorder this list of numbers so that it goes up from the smallest value to the biggest.
Ascending sort, please.
Sort it, e.g. 3, 1, 2 -> 1, 2, 3.
Order the values in increasing order and keep the commas.
Can you sort the list so the numbers rise?
Rearrange the list in numerical order, smallest first.
Output the same numbers sorted upwards.
--
Return the list ordered from least to greatest.
Rank the numbers from the smallest up.
Instruction: give the list in ascending numerical order.
Reorder the values so each is at least as big as the one before.
--
sort the numbers in ascending order
put the list in order from smallest to largest
order the numbers from low to high
arrange the numbers in increasing order
--
rank the values from smallest up
reorder the list so the numbers rise
""",
    "sort_desc": """
Sort the numbers in descending order.
Put the list in order from largest to smallest.
Sort these numbers, highest first.
Task: return the list sorted in decreasing order, comma-separated.
Arrange the numbers from high to low.
Please reorder this list of numbers so that it goes down from the biggest value to the smallest.
Descending sort, please.
Sort it biggest first, e.g. 3, 1, 2 -> 3, 2, 1.
Order the values in decreasing order and keep the commas.
Can you sort the list so the numbers fall?
Rearrange the list numerically, largest first.
Output the same numbers sorted downwards.
--
Return the list ordered from greatest to least.
Rank the numbers from the biggest down.
Instruction: give the list in descending numerical order.
Reorder the values so each is at most as big as the one before.
--
sort the numbers in descending order
put the list in order from largest to smallest
order the numbers from high to low
arrange the numbers in decreasing order
--
rank the values from biggest down
reorder the list so the numbers fall
""",
    "max": """
What is the largest number in the list?
Give the maximum.
Return the biggest value.
Task: output the maximum of the list.
Which number is the highest?
Please look through the list and reply with the greatest number in it.
Max only.
Find the largest, e.g. 4, 9, 2 -> 9.
Pick out the top value.
What's the biggest one here?
Name the greatest of these numbers.
Output the highest value in the list.
--
Return the maximal element.
Among these numbers, which is greatest?
Instruction: give the largest value in the input.
Which entry has the highest value?
--
give the largest number in the list
find the maximum
pick the biggest value
give the highest number
--
name the greatest value in the list
return the top number
""",
    "min": """
What is the smallest number in the list?
Give the minimum.
Return the lowest value.
Task: output the minimum of the list.
Which number is the least?
Please look through the list and reply with the smallest number in it.
Min only.
Find the smallest, e.g. 4, 9, 2 -> 2.
Pick out the bottom value.
What's the tiniest one here?
Name the least of these numbers.
Output the lowest value in the list.
--
Return the minimal element.
Among these numbers, which is smallest?
Instruction: give the least value in the input.
Which entry has the lowest value?
--
give the smallest number in the list
find the minimum
pick the lowest value
give the least number
--
name the smallest value in the list
return the bottom number
""",
    "sum": """
Add up the numbers.
What is the sum of the list?
Give the total of all the numbers.
Task: return the sum of the values.
Sum the list.
Please add every number in the list together and tell me the total.
Total, please.
Add them all, e.g. 4, 9, 2 -> 15.
What do these numbers add up to?
Compute the grand total.
How much is everything in the list put together?
Output the sum of the numbers only.
--
Return the total obtained by adding all entries.
What's the sum of these values?
Instruction: add up the input numbers.
Combine all the numbers by addition and give the result.
--
add up the numbers
give the sum of the list
total the numbers
sum all the values
--
add every number together
work out the total of the list
""",
    "count": """
How many numbers are in the list?
Count the items.
Give the length of the list.
Task: return the number of entries.
Count how many values there are.
Please count the numbers in this list (repeats count separately) and reply with the count.
Item count only.
Count them, e.g. 4, 9, 2 -> 3.
How long is this list?
Tell me how many numbers you see.
How many elements does the list contain?
Output the number of items in the list.
--
Return the size of the list.
How many entries does it have?
Instruction: count the list's elements.
Say how many comma-separated values there are.
--
count the numbers in the list
give the length of the list
say how many numbers there are
count the items
--
tell how many entries the list has
give the size of the list
""",
    "first": """
What is the first number in the list?
Give the first item.
Return the number at the start of the list.
Task: output the first element.
Which number comes first?
Please reply with only the number that appears at the very beginning of the list.
First one only.
Take the first, e.g. 4, 9, 2 -> 4.
What number does the list open with?
Give me the leading entry.
Pick the number at position one.
Output the initial element of the list.
--
Return the element at the front of the list.
Which value is listed first?
Instruction: give the opening number of the list.
What number heads the list?
--
give the first number in the list
take the first item
return the number at the start
pick the leading entry
--
name the opening number of the list
give the element at the front
""",
    "last": """
What is the last number in the list?
Give the last item.
Return the number at the end of the list.
Task: output the final element.
Which number comes last?
Please reply with only the number that appears at the very end of the list.
Last one only.
Take the last, e.g. 4, 9, 2 -> 2.
What number does the list close with?
Give me the final entry.
Pick the number in the final position.
Output the trailing element of the list.
--
Return the element at the back of the list.
Which value is listed last?
Instruction: give the closing number of the list.
What number ends the list?
--
give the last number in the list
take the final item
return the number at the end
pick the trailing entry
--
name the closing number of the list
give the element at the back
""",
    "second": """
What is the second number in the list?
Give the second item.
Return the number in position two.
Task: output the second element.
Which number comes second?
Please reply with only the number that appears right after the first one.
Second one only.
Take the second, e.g. 4, 9, 2 -> 9.
What number follows the opening one?
Give me the entry after the first.
Pick the number at index two, counting from one.
Output the element in second place.
--
Return the list's second entry.
Which value is listed second?
Instruction: give the number that comes directly after the first number.
What is the runner-up position's number, i.e. item two?
""",
    "reverse": """
Reverse the list.
Write the numbers in reverse order.
Give the list backwards.
Task: return the list with its order reversed.
Flip the order of the numbers.
Please rewrite the list starting from the last number and ending with the first.
Backwards, please.
Reverse it, e.g. 4, 9, 2 -> 2, 9, 4.
Read the list from right to left.
Turn the sequence around.
Put the items in the opposite order.
Output the numbers from last to first.
--
Return the elements in reversed order.
Invert the order of the entries.
Instruction: write the list back to front.
List the values starting from the end.
--
reverse the list
write the numbers in reverse order
give the list backwards
flip the order of the numbers
--
list the values from last to first
turn the sequence around
""",
    "dedupe": """
Remove the duplicates from the list.
Drop any repeated numbers, keeping the first occurrence.
Give the list without repeats.
Task: return the distinct numbers in order of first appearance.
Delete duplicate entries.
Please go through the list and keep each number only the first time it appears.
No duplicates, please.
Deduplicate it, e.g. 4, 9, 4, 2 -> 4, 9, 2.
Keep only one copy of every number.
Strip out the repeats but keep the order.
List each value once.
Output the list with repeated numbers removed.
--
Return the unique values, preserving order.
Eliminate repeated entries from the list.
Instruction: deduplicate the input, first occurrences win.
Write every number only once, in the original order.
--
remove the duplicates from the list
drop the repeated numbers
keep each number only once
give the list without repeats
--
deduplicate the list
strip out repeated values
""",
    "product_first_two": """
Multiply the first two numbers.
What is the product of the first two items?
Give the first number times the second.
Task: return the product of the first and second elements.
Multiply the opening two values together.
Please take the two numbers at the start of the list and multiply them.
First two multiplied, please.
Multiply the first pair, e.g. 4, 9, 2 -> 36.
What do you get by multiplying item one by item two?
Ignore the rest and give the product of the first two.
Times the first number by the second.
Output the first entry multiplied by the second entry.
--
Return element one times element two.
Compute the product of the leading pair.
Instruction: multiply the two numbers at the front of the list.
How much is the first value multiplied by the next one?
""",
    "range": """
What is the range of the list (largest minus smallest)?
Subtract the smallest number from the largest.
Give the difference between the maximum and the minimum.
Task: return max minus min.
How far apart are the biggest and smallest numbers?
Please find the biggest and the smallest value in the list and tell me the gap between them.
Range only.
Find the spread, e.g. 4, 9, 2 -> 7.
What is the spread of the values?
Take the highest value minus the lowest value.
How much bigger is the maximum than the minimum?
Output the range of the numbers.
--
Return the distance between the greatest and least entries.
Compute the statistical range.
Instruction: subtract the minimum from the maximum.
What's the gap between the top and bottom values?
--
give the range of the list
subtract the smallest number from the largest
find the gap between the maximum and the minimum
work out the spread of the numbers
--
take the largest minus the smallest
compute the range of the values
""",
    "join": """
Join the numbers with no separators.
Write the numbers together as one string without commas or spaces.
Glue the numbers together.
Task: concatenate all the numbers.
Remove the commas and spaces.
Please write all the numbers one after the other with nothing in between them.
Squash it together, please.
Concatenate them, e.g. 4, 19, 2 -> 4192.
Run the numbers together into one long string of digits.
Stick every number onto the next.
Drop the separators and keep the digits.
Output the list as one unbroken string.
--
Return the entries concatenated with no delimiter.
Merge all the numbers into a single digit string.
Instruction: delete every comma and space from the list.
Write the values back to back without gaps.
--
join the numbers with no separators
glue the numbers together
remove the commas and spaces
concatenate the numbers
--
write the numbers back to back
merge the numbers into one string
""",
    "middle": """
What is the middle number in the list?
Give the item in the middle.
Return the number at the centre of the list.
Task: output the middle element of the odd-length list.
Which number is exactly in the middle?
Please reply with the number that has as many numbers before it as after it.
Middle one only.
Take the middle, e.g. 4, 9, 2 -> 9.
What number sits in the centre position?
Give me the central entry.
Pick the number halfway along the list.
Output the element in the middle position.
--
Return the centre element by position.
Which value is listed in the middle?
Instruction: give the entry with equally many neighbours on each side.
What number is at the midpoint of the list?
--
give the middle number in the list
take the item in the centre
pick the central entry
return the number in the middle position
--
name the number halfway along the list
give the element at the centre
""",
    "count_even": """
How many even numbers are in the list?
Count the even numbers.
Give the number of even values.
Task: return how many entries are divisible by two.
Count how many numbers are even.
Please go through the list and count the numbers that are even.
Even count only.
Count the evens, e.g. 4, 9, 2 -> 2.
How many of these can be divided by two exactly?
Tell me how many even entries there are.
How many values in the list are multiples of two?
Output the count of even numbers.
--
Return the number of even elements.
How many of the entries are even?
Instruction: count the even values in the input.
Say how many list items are divisible by 2.
--
count the even numbers
give how many numbers are even
count the entries divisible by two
say how many even values there are
--
tally the even numbers
count how many items are even
""",
    "is_sorted": """
Is the list sorted in ascending order?
Are the numbers already in increasing order? yes or no
Tell me whether the list is sorted from smallest to largest.
Task: answer yes if the list never goes down.
Sorted or not? Reply yes or no.
Please check whether each number is at least as big as the one before it, and answer yes or no.
Already in order?
Decide whether the list is in ascending order.
Is this list non-decreasing?
Say yes if the numbers only go up (or stay equal), no otherwise.
Ascending order check: yes or no.
Answer yes or no: is the input sorted low to high?
--
Return yes when the entries are in non-decreasing order.
Are these values already sorted upwards, yes or no?
Instruction: check whether the list is sorted.
Does the sequence never decrease?
--
say whether the list is sorted
check if the numbers are in ascending order
tell whether the list is already in order
answer yes or no to whether the list is sorted
--
decide if the list never goes down
test whether the values are sorted upwards
""",
    "drop_first": """
Remove the first number from the list.
Drop the first item and give the rest.
Give the list without its first element.
Task: return everything after the first entry.
Delete the opening number.
Please cross out the first number and write the list that remains.
All but the first, please.
Drop the head, e.g. 4, 9, 2 -> 9, 2.
What is left when the leading number is taken away?
Chop off the first value.
Skip the first number and list the others.
Output the tail of the list.
--
Return the list minus its initial element.
Leave out the number at the front.
Instruction: remove the first entry and keep the others.
Give the remaining numbers after discarding the first.
--
remove the first number from the list
drop the first item
give the list without its first element
chop off the opening number
--
leave out the number at the front
discard the first entry
""",
    "drop_last": """
Remove the last number from the list.
Drop the last item and give the rest.
Give the list without its final element.
Task: return everything before the final entry.
Delete the closing number.
Please cross out the last number and write the list that remains.
All but the last, please.
Drop the end, e.g. 4, 9, 2 -> 4, 9.
What is left when the final number is taken away?
Chop off the last value.
Leave out the number at the end and list the others.
Output the list without its trailing element.
--
Return the list minus its final element.
Leave out the number at the back.
Instruction: remove the last entry and keep the others.
Give the remaining numbers after discarding the final one.
--
remove the last number from the list
drop the final item
give the list without its last element
chop off the closing number
--
leave out the number at the end
discard the final entry
""",
    "second_largest": """
What is the second largest number in the list?
Give the second biggest value.
Return the runner-up after the maximum.
Task: output the second-highest distinct value.
Which number is next biggest after the largest?
Please ignore the largest value and reply with the biggest of the remaining distinct values.
Second largest only.
Find the runner-up, e.g. 4, 9, 2 -> 4.
What is the second highest number here?
Name the value that would win silver.
Which distinct number ranks second from the top?
Output the second-greatest value.
--
Return the largest value below the maximum.
Among the distinct values, which is second biggest?
Instruction: give the second highest number.
What's the next-to-top value in the list?
""",
    "position_of_max": """
At which position is the largest number? Count from 1.
Give the position of the maximum in the list.
Where is the biggest value? Answer with its position number.
Task: return the 1-based index of the largest element.
In which place does the highest number appear?
Please find the biggest number and reply with its position, counting the first number as 1.
Position of the max only.
Locate the maximum, e.g. 4, 9, 2 -> 2.
Which slot holds the top value?
Tell me the index (starting at one) of the greatest number.
Counting from the left, where is the largest entry?
Output the place number of the highest value.
--
Return where the maximum sits, counting from one.
What is the ordinal position of the biggest entry, as a number?
Instruction: give the 1-indexed location of the greatest value.
How far along the list is the largest number?
""",
    "first_and_last": """
Give the first and the last number.
Return the first and last items, separated by a comma.
Write only the two ends of the list.
Task: output the first element and the final element.
Keep just the first and last numbers.
Please write the number at the start of the list and the number at the end, comma-separated.
Both ends, please.
Keep the ends, e.g. 4, 9, 2 -> 4, 2.
What are the opening and closing numbers?
Drop everything in between the first and last entries.
Give me the number that starts the list and the one that ends it.
Output the endpoints of the list.
--
Return the front and back elements.
List the two outermost values.
Instruction: give only the beginning and ending entries.
Which numbers sit at the two ends?
""",
    "double_each": """
Double every number in the list.
Multiply each number by two.
Give the list with each value doubled.
Task: return the list with every element times 2.
Twice each item, please.
Please go through the list and replace every number with twice that number.
Double them all.
Double each, e.g. 4, 9, 2 -> 8, 18, 4.
What does the list look like when each number is doubled?
Make every entry two times bigger.
Apply doubling to each element.
Output each number multiplied by two, keeping the order.
--
Return the list with all entries doubled.
Scale every value in the list by two.
Instruction: multiply each element by 2.
Replace each item with its double.
--
double every number in the list
multiply each number by two
make every entry twice as big
double each value
--
scale every value by two
replace each number with its double
""",
    "evens": """
Keep only the even numbers.
Give the even numbers from the list.
Filter out the odd numbers.
Task: return the even entries in their original order.
Remove every odd number.
Please write just the numbers in the list that are divisible by two, in the same order.
Evens only.
Keep the evens, e.g. 4, 9, 2 -> 4, 2.
Which numbers in the list are even? List them.
Drop the odd values.
Select the numbers that are multiples of two.
Output the list with only its even elements.
--
Return the even values, order preserved.
Discard anything odd from the list.
Instruction: filter the input down to its even numbers.
List the entries that divide evenly by 2.
--
keep only the even numbers
filter out the odd numbers
give the even numbers from the list
remove every odd number
--
select the multiples of two
discard the odd values
""",
    "has_duplicates": """
Does the list contain a repeated number?
Are there any duplicates? yes or no
Tell me whether any number appears twice.
Task: answer yes if some value occurs more than once.
Any repeats? Reply yes or no.
Please check whether the same number shows up more than once in the list, and answer yes or no.
Duplicate check.
Decide whether the list has a duplicate entry.
Is any value listed more than one time?
Say yes if a number repeats, no if all are different.
Repeated values: yes or no.
Answer yes or no: does some number occur at least twice?
--
Return yes when the list is not made of distinct values.
Do any of the entries repeat, yes or no?
Instruction: check the list for duplicates.
Is there a number that appears multiple times?
--
say whether the list has a repeated number
check if any number appears twice
tell whether there are duplicates
answer yes or no to whether a value repeats
--
test the list for repeats
decide if some number occurs more than once
""",
}

WORD_SPECS: dict[str, str] = {
    "sort_alpha": """
Sort the words alphabetically.
Put the words in alphabetical order.
Arrange the list from A to Z.
Task: return the words sorted alphabetically, comma-separated.
Alphabetise the list.
Please reorder these words the way they would appear in a dictionary.
A to Z, please.
Sort them, e.g. pear, apple, fig -> apple, fig, pear.
Order the words by their spelling, starting from a.
Can you alphabetise these words?
Rearrange the words into dictionary order.
Output the same words in alphabetical order.
--
Return the words ordered lexicographically.
List the items alphabetically.
Instruction: sort the word list from a to z.
Reorder the words as in an index.
--
sort the words alphabetically
put the words in alphabetical order
alphabetise the list
arrange the words from a to z
--
put the words in dictionary order
reorder the words by spelling
""",
    "longest": """
Which word is the longest?
Give the longest word in the list.
Return the word with the most letters.
Task: output the longest word.
Find the lengthiest item.
Please compare the words by how many letters they have and reply with the longest.
Longest word only.
Pick the longest, e.g. cat, elephant, dog -> elephant.
Which entry takes the most letters to spell?
Name the biggest word.
Which of these words is longest?
Output the word with the greatest length.
--
Return the item with the maximum number of characters.
What's the wordiest entry in the list?
Instruction: give the longest word in the input.
Which word has more letters than any other?
--
give the longest word
find the word with the most letters
pick the longest word in the list
name the lengthiest word
--
return the word with the greatest length
choose the word that has the most letters
""",
    "shortest": """
Which word is the shortest?
Give the shortest word in the list.
Return the word with the fewest letters.
Task: output the shortest word.
Find the briefest item.
Please compare the words by how many letters they have and reply with the shortest.
Shortest word only.
Pick the shortest, e.g. lion, ox, tiger -> ox.
Which entry takes the fewest letters to spell?
Name the smallest word.
Which of these words is shortest?
Output the word with the least length.
--
Return the item with the minimum number of characters.
What's the most compact word in the list?
Instruction: give the shortest word in the input.
Which word has fewer letters than any other?
--
give the shortest word
find the word with the fewest letters
pick the shortest word in the list
name the briefest word
--
return the word with the least length
choose the word that has the fewest letters
""",
    "first": """
What is the first word in the list?
Give the first word.
Return the word at the start of the list.
Task: output the first word of the list.
Which word comes first?
Please reply with only the word that appears at the very beginning of the list.
First word only.
Take the first word, e.g. cat, dog, owl -> cat.
What word does the list open with?
Give me the leading word.
Pick the word in position one.
Output the initial word of the list.
--
Return the word at the front of the list.
Which word is listed first?
Instruction: give the opening word of the list.
What word heads the list?
--
give the first word in the list
take the first word
return the word at the start of the list
pick the leading word
--
name the opening word of the list
give the word at the front
""",
    "last": """
What is the last word in the list?
Give the last word.
Return the word at the end of the list.
Task: output the final word of the list.
Which word comes last?
Please reply with only the word that appears at the very end of the list.
Last word only.
Take the last word, e.g. cat, dog, owl -> owl.
What word does the list close with?
Give me the final word.
Pick the word in the final position.
Output the trailing word of the list.
--
Return the word at the back of the list.
Which word is listed last?
Instruction: give the closing word of the list.
What word ends the list?
--
give the last word in the list
take the final word
return the word at the end of the list
pick the trailing word
--
name the closing word of the list
give the word at the back
""",
    "count": """
How many words are in the list?
Count the words.
Give the number of words in the list.
Task: return how many words are listed.
Count how many items there are.
Please count the words in this comma-separated list and reply with a number.
Word count only.
Count them, e.g. cat, dog, owl -> 3.
How many things are named here?
Tell me how many words you see.
How many entries does this word list contain?
Output the number of words.
--
Return the size of the word list.
How many words does it have?
Instruction: count the listed words.
Say how many comma-separated words there are.
--
count the words in the list
say how many words there are
give the number of words listed
tell how many items the list has
--
give the size of the word list
count the listed words
""",
    "reverse": """
Reverse the order of the words.
List the words backwards.
Give the words in reverse order.
Task: return the word list with its order reversed.
Flip the order of the words.
Please rewrite the list starting from the last word and ending with the first.
Words backwards, please.
Reverse it, e.g. cat, dog, owl -> owl, dog, cat.
Read the word list from right to left.
Turn the list of words around.
Put the words in the opposite order.
Output the words from last to first.
--
Return the words in reversed sequence.
Invert the order of the listed words.
Instruction: write the word list back to front.
List the words starting from the end.
--
reverse the order of the words
list the words backwards
give the words in reverse order
flip the order of the words
--
write the word list back to front
list the words from last to first
""",
    "join_and": """
Rewrite the list with "and" before the last word.
Turn the list into a natural English list ending with "and".
Replace the last comma with "and".
Task: join the words like in a sentence: a, b and c.
Make it read like English: commas, then "and" before the final word.
Please write these words as you would in a sentence, with the word "and" joining the final two.
Natural list, please.
Join them, e.g. cat, dog, owl -> cat, dog and owl.
Connect the last two words with "and".
How would you list these in a sentence?
Put "and" in place of the final comma.
Output the words as an English list with "and".
--
Return the list punctuated as running prose, with and before the final item.
Link the final pair of words with the word and.
Instruction: write the list in everyday English form.
Swap the last separator for the word "and".
""",
    "initials": """
Give the first letter of each word, joined together.
Make an acronym from the first letters of the words, in lower case.
Write the initials of the words as one string.
Task: return the first letters of the words, concatenated.
Take the first letter of every word.
Please take the initial letter of each word in order and write them together with no spaces.
Initials only.
Initials, e.g. cat, dog, owl -> cdo.
Spell out the word formed by the first letters.
What do the starting letters of the words spell?
Collect the opening letter of each word.
Output the leading letters strung together.
--
Return the concatenation of each word's first character.
Read down the first letters of the list.
Instruction: combine the words' initial letters into a string.
Join up the letters each word begins with.
--
give the first letter of each word joined together
write the initials of the words
take the first letter of every word
make an acronym from the words
--
join up the letters each word starts with
collect the opening letter of every word
""",
    "alpha_first": """
Which word comes first alphabetically?
Give the word that would come first in a dictionary.
Return the alphabetically earliest word.
Task: output the word that sorts first from A to Z.
Find the word nearest the start of the alphabet.
Please look at these words and reply with the one a dictionary would list before the others.
Alphabetically first only.
Pick the earliest, e.g. pear, apple, fig -> apple.
Which word would head an alphabetical list?
What's the lexicographically smallest word?
Which word is first in A-Z order?
Output the alphabetical minimum.
--
Return the word that precedes all others alphabetically.
Which item would come first in an index?
Instruction: give the alphabetically earliest item.
Which word is closest to "a" in dictionary order?
""",
    "capitalise": """
Capitalise each word.
Give each word a capital first letter.
Write every word with an initial capital.
Task: return the list with every word capitalised.
Start each word with an uppercase letter.
Please rewrite the list so that the first letter of every word is a capital and the rest stay lowercase.
Title case each item.
Capitalise them, e.g. cat, dog -> Cat, Dog.
Make the first letter of each word big.
Turn every word into one that starts with a capital.
Uppercase just the first letter of each word.
Output the words with capital initials.
--
Return each entry with its first character uppercased.
Give every listed word a capital initial.
Instruction: capitalise the first letter of every word.
Rewrite the words as if they were names.
--
capitalise each word
give each word a capital first letter
start every word with a capital
uppercase the first letter of each word
--
give every word a capital initial
write each word like a name
""",
    "count_vowel_start": """
How many words start with a vowel?
Count the words beginning with a, e, i, o or u.
Give the number of words that begin with a vowel.
Task: return how many words have a vowel as first letter.
Count vowel-initial words.
Please count the words in the list whose first letter is a vowel.
Vowel starts only.
Count them, e.g. apple, dog, owl -> 2.
How many of the words open with a vowel?
Tell me how many entries begin with a, e, i, o or u.
How many items start with a vowel letter?
Output the count of words starting with a vowel.
--
Return the number of words whose initial is a vowel.
How many list items begin with a vowel?
Instruction: count the words that start with a vowel.
Say how many words open with one of a, e, i, o, u.
""",
}


def _num(fn: Callable[[list[int]], object]) -> Callable[[str], str | None]:
    def answer(x: str) -> str | None:
        out = fn(_parse_nums(x))
        return None if out is None else str(out)
    return answer


def _word(fn: Callable[[list[str]], object]) -> Callable[[str], str | None]:
    def answer(x: str) -> str | None:
        out = fn(_parse_words(x))
        return None if out is None else str(out)
    return answer


def register(reg: Registry) -> None:
    reg.add_pool(num_list_pool())
    reg.add_pool(word_list_pool())
    for key, spec in NUM_SPECS.items():
        reg.ops.append(make_op(f"list.num_{key}", NUM_POOL, _num(NUM_ANSWERS[key]), spec))
    for key, spec in WORD_SPECS.items():
        reg.ops.append(make_op(f"list.word_{key}", WORD_POOL, _word(WORD_ANSWERS[key]), spec))
