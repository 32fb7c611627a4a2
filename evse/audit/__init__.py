"""`evse audit`: the certification review pack, generated from the code.

The reference's gap list and PLC completeness checklist (`checklist.yaml`) mapped to the tests
that prove each item (`@pytest.mark.req(...)`), the chart states and modules that implement it;
every chart rendered; every timing bound and fault row with its source; plots. Written to
`docs/review/` as Markdown + SVG and one HTML page; `evse audit --check` fails when an item
loses its test or the committed pack is stale.
"""
