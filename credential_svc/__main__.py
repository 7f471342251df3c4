"""`python -m credential_svc` runs one credential_svc process."""

from credential_svc.server import SPEC
from mesh.server import run

run(SPEC)
