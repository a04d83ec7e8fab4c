"""Output formats applied to an op's answer, each with clauses that read naturally after an op clause.

A combination's description is an op clause and a format clause joined by ", " ("double the number, and put it in
double quotes"), capitalised and ended with a full stop by training.suite.build.

Sources and licences
    python    every format is a plain string transformation written here; no package, no data.
"""

from __future__ import annotations

from training.suite.core import Format, Registry


def formats() -> list[Format]:
    return [
        Format("quotes", lambda a: f'"{a}"', clauses=(
            "and put it in double quotes",
            "wrapped in double quotation marks",
            "and enclose the answer in quotes",
            "then surround the result with double quotes",
            "with the answer inside quotation marks",
            "and quote it",
        ), eval_clauses=(
            "and place the reply between two double-quote characters",
            "putting quotation marks around it",
        )),
        Format("brackets", lambda a: f"[{a}]", clauses=(
            "wrapped in square brackets",
            "and put it in square brackets",
            "then enclose the result in square brackets",
            "with the answer between [ and ]",
            "and surround it with square brackets",
            "inside a pair of square brackets",
        ), eval_clauses=(
            "and box the reply in square brackets",
            "placing it between an opening and a closing square bracket",
        )),
        Format("parentheses", lambda a: f"({a})", clauses=(
            "in parentheses",
            "and put it in round brackets",
            "then wrap the result in parentheses",
            "with the answer between ( and )",
            "and enclose it in parentheses",
            "inside a pair of round brackets",
        ), eval_clauses=(
            "and place the reply inside round parentheses",
            "surrounding it with an opening and a closing parenthesis",
        )),
        Format("upper", lambda a: a.upper(), clauses=(
            "in upper case",
            "and write it in capital letters",
            "then put the whole answer in capitals",
            "all in caps",
            "and uppercase the result",
            "using only capital letters",
        ), eval_clauses=(
            "and shout it in block capitals",
            "with every letter made uppercase",
        )),
        Format("exclaim", lambda a: f"{a}!", clauses=(
            "followed by an exclamation mark",
            "and end it with an exclamation mark",
            "then add a ! at the end",
            "with an exclamation point after it",
            "and finish the answer with !",
            "and put an exclamation mark right after the answer",
        ), eval_clauses=(
            "and close the reply with an exclamation point",
            "appending a single exclamation mark",
        )),
        Format("answer_prefix", lambda a: f"Answer: {a}", clauses=(
            'prefixed with "Answer: "',
            'and start the reply with "Answer: "',
            'then write "Answer: " before the result',
            'with "Answer:" and a space in front of it',
            'and begin with the label "Answer: "',
            'after the words "Answer: "',
        ), eval_clauses=(
            'and put the label "Answer: " ahead of the reply',
            'preceded by "Answer: "',
        )),
        Format("angle", lambda a: f"<{a}>", clauses=(
            "in angle brackets",
            "and put it between < and >",
            "then wrap the result in angle brackets",
            "with the answer inside chevrons",
            "and enclose it in angle brackets",
            "surrounded by a less-than and a greater-than sign",
        ), eval_clauses=(
            "and place the reply between angle brackets",
            "boxed in < > brackets",
        )),
        Format("stars", lambda a: f"*{a}*", clauses=(
            "between asterisks",
            "and put a star on each side of it",
            "then wrap the result in asterisks",
            "with an asterisk before and after it",
            "and surround it with single asterisks",
            "enclosed in stars",
        ), eval_clauses=(
            "and place one asterisk on either side of the reply",
            "flanked by * characters",
        )),
    ]


def register(reg: Registry) -> None:
    reg.formats.extend(formats())
