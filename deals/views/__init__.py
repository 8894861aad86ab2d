"""The rep-facing deal pages: the pipeline board, the deal list, the deal page and its actions.

Views parse input with deals.forms, read with deals.selectors and write only through deals.services."""
