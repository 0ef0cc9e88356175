"""The fault harness (issue 7): see harness.py. `HOTLINE_FAULTS_SCALE=N` multiplies the counts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
