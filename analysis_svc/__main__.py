"""`python -m analysis_svc` runs one analysis_svc process."""

from analysis_svc.server import SPEC
from mesh.server import run

run(SPEC)
