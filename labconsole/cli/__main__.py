import sys

from labconsole.cli import main

sys.exit(main())
