"""A scriptable CSMS simulator (OCPP 1.6J / 2.0.1): sans-IO core + websocket server."""
