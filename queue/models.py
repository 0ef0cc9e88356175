"""Tables of this feature (registered on Base.metadata by hotline.db.registry)."""

from __future__ import annotations
