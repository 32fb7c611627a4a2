"""The controller: OCPP 1.6J / 2.0.1, authorization, transactions, smart charging (sans-IO)."""
