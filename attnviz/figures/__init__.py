"""Pure figure functions: result objects in, plotly Figures (or self-contained HTML) out."""
