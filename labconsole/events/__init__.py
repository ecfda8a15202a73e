"""The session log layer: hash-chained writer/reader, blobs, audit, fast replay.

Imports nothing from ``labconsole.lab``: callers pass the state factory and the
reducer to :class:`~labconsole.events.replay.Replay`.
"""
