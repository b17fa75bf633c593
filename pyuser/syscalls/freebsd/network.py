"""Sockets (filled in below)."""

from __future__ import annotations


class FreeBsdNetworkCalls:
    pass
