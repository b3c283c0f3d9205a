"""Tables and figures: Table 1 (Markdown and CSV), curves, distributions and sample grids."""
