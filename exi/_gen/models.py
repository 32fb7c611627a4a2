"""Placeholder: message class generation (filled in below)."""
from exi._gen.xsd import SchemaSet


def render_models(name: str, schema: SchemaSet) -> str:
    return f'"""Generated message classes for {name}."""\n'
