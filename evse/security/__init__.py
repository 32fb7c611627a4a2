"""Certificates and keys for the V2G (ISO 15118-2) public-key infrastructure."""
