"""Generated message classes for app."""
