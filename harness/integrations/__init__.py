"""Bridges from the zoo's objectives to other training engines (each module imports only `algorithms` and its
engine, so it can be installed beside that engine without the rest of the harness)."""
