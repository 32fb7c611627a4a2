"""Fault campaigns over the whole station: the fault catalogue (fault x session phase), its
injectors, the phase detector, the per-cell checks and the matrix the audit renders."""
