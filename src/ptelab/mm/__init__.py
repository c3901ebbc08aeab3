"""Generic memory management, written against the accessors as the kernel's call sites are."""
