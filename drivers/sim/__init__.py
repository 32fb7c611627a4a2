"""Physical simulators on python-can's `virtual` bus, stepped by an injected clock (§6.2)."""
