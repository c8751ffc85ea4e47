"""The quick profile's photographs: data, no code (see README.md and credits.csv beside this file)."""
