"""I/O adapters: the only modules of the stack that own sockets, serial ports or websockets.

Each adapter moves bytes between one transport and one sans-IO core and reads time only
through an injected clock: ``v2g_net`` (SDP over UDP/IPv6, V2GTP over TCP/TLS for the SECC),
``contract_link`` (the controller↔PLC contract over a Unix socket, TCP or a UART) and
``ocpp_ws`` (OCPP-J over websockets: the controller's client and the CSMS simulator's server).
The kernel that drives them (clock, scheduler, realtime loop) is ``evse.runtime``.
"""
