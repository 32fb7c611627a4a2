"""Isolation monitor backends: Bender iso165C on CAN and isoCHA425HV on Modbus RTU."""
