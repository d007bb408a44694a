import sys

from bodylens.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports it (``body.worker``)
    sys.exit(main())
