"""``python -m sipsniff``."""

from sipsniff.cli import main

if __name__ == "__main__":
    main()
