"""Where networks come from: the YAML and DSL readers, blocks and expressions, the writers
back to text, and the one load pipeline (reading)."""
