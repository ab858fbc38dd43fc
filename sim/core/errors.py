"""Errors raised by nen-pathway.

Every error a user can cause by what they give the tool (a scenario file, a command-line option,
an output folder) derives from :class:`NenPathError`; the command line turns these into one line
per problem and exit status 2, never a traceback. Anything else is a bug in the tool.

::

    NenPathError
    ├── ScenarioError          a scenario file cannot be read or is invalid (carries .problems)
    ├── RunControlError        replications, seed, years, workers or output folder are unusable
    ├── OutputExistsError      the output folder holds a different run (use --force)
    └── ReplicationError       a replication raised; carries scenario, replication, seed, traceback
"""

from __future__ import annotations

from dataclasses import dataclass


class NenPathError(Exception):
    """Base class of every error a user can cause."""


@dataclass(frozen=True)
class Problem:
    """One problem with one scenario file: where it is and what is allowed.

    Attributes
    ----------
    file:
        The file the problem is in (as the user named it).
    key:
        Dotted key path inside the file (``pathway.gp.referral_probability``), or ``""`` for
        the file as a whole (e.g. a syntax error).
    message:
        What is wrong and what is allowed, e.g. ``must be between 0 and 1, got 1.4``.
    """

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}: " if self.key else f"{self.file}: "
        return where + self.message


class ScenarioError(NenPathError):
    """A scenario file could not be loaded; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RunControlError(NenPathError):
    """A run control (replications, seed, years, workers, output folder) is unusable."""


class OutputExistsError(NenPathError):
    """The output folder already holds the results of a different run."""


class ReplicationError(NenPathError):
    """A replication raised an exception.

    Carries what is needed to reproduce it alone: scenario name, replication number, base seed
    and the formatted traceback from the worker.
    """

    def __init__(self, scenario: str, replication: int, seed: int, traceback: str):
        self.scenario = scenario
        self.replication = replication
        self.seed = seed
        self.traceback = traceback
        super().__init__(
            f"replication {replication} of scenario {scenario!r} (seed {seed}) failed:\n{traceback}"
        )
