"""`python -m trading_svc` runs one trading_svc process."""

from mesh.server import run
from trading_svc.server import SPEC

run(SPEC)
