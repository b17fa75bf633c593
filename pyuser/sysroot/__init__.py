"""Debian sysroots for -L: a private apt state (apt), the sysroot builder
(build) and the `pyuser-sysroot` command (cli)."""
