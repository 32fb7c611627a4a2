"""DC power-module drivers: InfyPower V1.13 and PROTNO 0x060 codecs, group manager."""
