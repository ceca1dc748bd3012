"""``python -m cnnzoo`` (also what ``torchrun -m cnnzoo train`` runs)."""

import sys

from cnnzoo.cli import main

sys.exit(main())
