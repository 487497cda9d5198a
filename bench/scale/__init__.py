"""The scale bench: each system with N engines (one process per engine), N in 2, 8, 14, 32, 100.

``python -m bench.scale``; see ``__main__`` for the options and bench/README.md
("Scale") for what each column measures.
"""
