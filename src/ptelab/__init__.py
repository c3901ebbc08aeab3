"""ptelab: an executable model of Linux page-table accessors across architectures."""

__version__ = "0.1.0"
