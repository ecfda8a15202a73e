"""Screens of the lab console."""
