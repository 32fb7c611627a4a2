"""HomePlug GreenPHY drivers: scapy layers, raw AF_PACKET socket, simulated powerline medium."""
