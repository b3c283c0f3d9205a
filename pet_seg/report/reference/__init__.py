"""The reference study being reproduced: its numbers (``reference.yaml``), its claims checked
against our runs, and ``reproduce.md`` laid out like the original."""
