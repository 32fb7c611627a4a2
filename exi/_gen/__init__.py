"""Build-time code generator (XSD -> EXI grammar tables and message classes).

Never imported by the runtime codec: ``import exi`` must not parse XSDs.
"""
