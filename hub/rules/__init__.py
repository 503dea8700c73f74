"""Rule scripts: the Rhai interpreter that runs judgment rules."""
