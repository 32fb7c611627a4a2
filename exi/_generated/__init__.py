"""Generated EXI grammar tables and message classes."""
