"""Generated message classes for xmldsig."""
