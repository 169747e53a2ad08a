import sys

from rankstack.cli import main

sys.exit(main())
