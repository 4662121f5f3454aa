"""``python -m research_lib`` runs the same CLI as ``research-lib``."""

from research_lib.cli import main

if __name__ == "__main__":
    main()
