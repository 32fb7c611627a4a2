"""Abstract device ports: the surface cores and the runtime see, whatever backend is behind.

Every port is polled (`poll(now_ns) -> list[event]`) and announces its next wake-up through
`next_deadline_ns()`, so the scheduler, not a library thread, owns time (architecture.md, Drivers).
"""
