"""mailflow: an email-driven workflow service for a Sister Libraries program."""

__version__ = "0.1.0"
