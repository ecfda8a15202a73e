"""Widgets of the lab console; each renders one part of LabState."""
