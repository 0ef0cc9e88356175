"""Every module that declares tables, imported once so that Base.metadata is complete: for
alembic (migrations/env.py), the schema comparison test and anything that walks the metadata.
Core tables live in hotline.db.models; each feature folder keeps its own in `models.py`."""

from __future__ import annotations

from hotline.agents import models as agents_models  # noqa: F401
from hotline.db import models as core_models  # noqa: F401
from hotline.db.base import Base
from hotline.followup import models as followup_models  # noqa: F401
from hotline.queue import models as queue_models  # noqa: F401
from hotline.recordings import models as recordings_models  # noqa: F401
from hotline.tickets import models as tickets_models  # noqa: F401

metadata = Base.metadata
