"""Python plugins (-plugin): pyuser.instrument.plugins.api is their interface."""
