"""Networking for system mode: the user-mode back end behind `-netdev user`."""
