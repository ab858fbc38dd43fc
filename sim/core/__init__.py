"""The foundation every other package stands on: one error tree, the event vocabulary, units
and constants, named random streams, distributions, the weekly calendar, atomic file io and the
evidence register. Imports nothing from the rest of :mod:`sim`."""
