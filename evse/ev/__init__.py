"""EV simulator: the car side of SDP/SAP/DIN 70121/ISO 15118-2 DC with a battery model."""
