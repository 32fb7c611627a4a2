"""Modbus RTU for the drivers on RS-485 (isolation monitor, DC meter): one client codec
(`rtu`) and one simulated-slave loop (`sim`)."""
