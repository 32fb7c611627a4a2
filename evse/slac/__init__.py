"""ISO 15118-3 SLAC: typed HomePlug GreenPHY messages, frame codec, EVSE and EV matching cores."""
