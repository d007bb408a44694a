import sys

from bodylens.cli import main

sys.exit(main())
