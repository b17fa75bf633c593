"""Board devices.  Importing this package registers every device type."""

from . import gic, pl011, pl031, platform, timer, virtio_net  # noqa: F401  (registration side effects)
