"""LabConsole: a terminal lab in which one engineer supervises coding agents."""

__version__ = "0.1.0"
