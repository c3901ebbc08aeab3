"""Schedules as strings, and replaying one.

A schedule is the sequence of actors that took each step.  It is written with
run lengths, actor names separated by spaces: "P0*3 P1 P0*2 P1" is P0, P0, P0,
P1, P0, P0, P1.  `--replay` runs exactly those steps, then on with the actor that
ran last, or the lowest-numbered enabled one.
"""

from __future__ import annotations

import re

from .execution import Execution

_TOKEN = re.compile(r"^(?P<name>[^*\s]+)(?:\*(?P<count>[0-9]{1,7}))?$")
MAX_STEPS = 1_000_000  # a schedule longer than this is no schedule an execution runs


class ScheduleError(ValueError):
    pass


def format_schedule(choices: list[int], names: list[str]) -> str:
    parts = []
    i = 0
    while i < len(choices):
        j = i
        while j < len(choices) and choices[j] == choices[i]:
            j += 1
        parts.append(names[choices[i]] + (f"*{j - i}" if j - i > 1 else ""))
        i = j
    return " ".join(parts)


def parse_schedule(text: str, names: list[str]) -> list[int]:
    form = f"a schedule is steps NAME or NAME*COUNT (COUNT at least 1) separated by spaces, NAME one of " \
        f"{', '.join(names)}, as a counterexample prints it (P0*3 P1)"
    choices = []
    for token in text.replace(",", " ").split():
        m = _TOKEN.match(token)
        if m is None or m["name"] not in names or m["count"] is not None and int(m["count"]) < 1:
            raise ScheduleError(f"bad schedule step {token!r}: {form}")
        choices.extend([names.index(m["name"])] * int(m["count"] or 1))
        if len(choices) > MAX_STEPS:
            raise ScheduleError(f"a schedule of more than {MAX_STEPS:,} steps: no execution is that long")
    if not choices:
        raise ScheduleError(f"an empty schedule: {form}")
    return choices


class Replay:
    """Run exactly the given choices, then on with the lowest-numbered enabled actor."""

    def __init__(self, choices: list[int]):
        self.choices = choices

    def choose(self, ex: Execution, i: int, enabled: list[int]):
        if i < len(self.choices):
            choice = self.choices[i]
            if choice not in enabled:
                raise ReplayError(i, choice, ex)
            return choice
        previous = ex.schedule[-1] if ex.schedule else None
        return previous if previous in enabled else enabled[0]

    def executed(self, ex, i, actor, footprint) -> None:
        pass


class ReplayError(ScheduleError):
    def __init__(self, i: int, choice: int, ex: Execution):
        actor = ex.actors[choice]
        why = "it has finished" if actor.finished else f"it waits at {actor.pending[2]}"
        super().__init__(f"schedule step {i}: {actor.name} cannot run there ({why})")
