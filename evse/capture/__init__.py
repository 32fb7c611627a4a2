"""Session captures: pcapng blocks (`evse.capture.pcapng`); the packet tap and the
per-session files that write them are I/O adapters (`evse.io.capture`)."""
