"""pyuser: run Linux programs built for another CPU, as qemu-user does, on Unicorn."""

__version__ = "0.1.0"
