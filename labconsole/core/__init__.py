"""Leaf modules every layer may import: the lab's configuration, parameter lines, hypothesis dedupe.

Nothing here imports another ``labconsole`` package except ``labconsole.errors`` (see docs/DESIGN.md, layers).
"""
