"""Generated message classes for iso2."""
