"""What a scenario is and how it is read: the strict, frozen schema (pydantic) and the loader
(``extends`` overlays, variants such as ``with_changes``, hashing). Imports only :mod:`sim.core`."""
