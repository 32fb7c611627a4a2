"""Generated message classes for din."""
