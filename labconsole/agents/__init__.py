"""Agents: the process supervisor (console side) and the runner + backends (agent side)."""
